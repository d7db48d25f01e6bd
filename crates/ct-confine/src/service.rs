//! What a service does once at start so that its runs cannot read its secrets out of `/proc`.
//!
//! Measured on Linux 6.18, as root: neither a Landlock domain nor a missing
//! CAP_SYS_PTRACE stops a run from reading its service's `/proc/<pid>/environ` (a
//! `PTRACE_MODE_READ` check), while `/proc/<pid>/mem` (`PTRACE_MODE_ATTACH`) of a non-dumpable
//! process is refused. So the service becomes non-dumpable, moves its environment to the heap,
//! and blanks the block the kernel shows as its environ.

/// Call once at start, before any thread reads the environment through libc directly.
pub fn protect_service() {
    if let Err(err) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(%err, "cannot make the service non-dumpable; its runs may read its memory");
    }
    match blank_initial_environment() {
        Ok(bytes) => tracing::debug!(bytes, "blanked the environment block /proc shows"),
        Err(err) => tracing::warn!(%err, "cannot blank the environment block; runs may read it in /proc"),
    }
}

/// Re-sets every variable (libc copies each to the heap and points `environ` there), then zeroes
/// the block the process started with, which nothing references any more.
fn blank_initial_environment() -> std::io::Result<usize> {
    let (start, end) = environment_block()?;
    for (name, value) in std::env::vars_os() {
        #[allow(unsafe_code)]
        // SAFETY: std serialises its own environment access with a lock; this runs at start,
        // before the service spawns threads that call libc's getenv behind std's back.
        unsafe {
            std::env::set_var(name, value);
        }
    }
    let len = end.saturating_sub(start);
    #[allow(unsafe_code)]
    // SAFETY: [start, end) is the environment strings area the kernel copied onto this
    // process's stack at exec (from /proc/self/stat), writable and mapped for the process's
    // life; after the loop above no `environ` entry points into it.
    unsafe {
        std::ptr::write_bytes(start as *mut u8, 0, len);
    }
    Ok(len)
}

/// `env_start` and `env_end` from `/proc/self/stat` (fields 50 and 51, see proc_pid_stat(5)).
fn environment_block() -> std::io::Result<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) is parenthesised and may hold spaces; count after it.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let field = |n: usize| -> std::io::Result<usize> {
        after_name
            .split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("/proc/self/stat has no field {n}")))
    };
    let (start, end) = (field(50)?, field(51)?);
    if start == 0 || end <= start {
        return Err(std::io::Error::other("the kernel reports no environment block"));
    }
    Ok((start, end))
}

/// Where a service keeps its runs' private directories unless told otherwise:
/// `$TMPDIR/<service>-<uid>`, private to the service's user, so that runs can be kept from
/// each other's and from the service's files without hiding the whole temp dir.
pub fn default_state_dir(service: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{service}-{}", nix::unistd::geteuid()))
}

/// Makes `dir` (and its parents) and narrows it to the service's user (0700).
pub fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

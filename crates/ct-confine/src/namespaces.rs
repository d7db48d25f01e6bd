//! A run's own mount, network, PID, IPC and UTS namespaces, built by bubblewrap: a file system
//! made for the run (system directories and toolchains read-only, its worktree and own
//! directory writable, the repository's git directory read-only over them, nothing else of any
//! home directory or service state) and a network with no route out but the bridges to sockets
//! the service serves. Inside, [`crate::init`] adds Landlock and starts the program.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::policy::Policy;

/// Where bubblewrap and the init program live, found and tried once at the service's start.
#[derive(Debug, Clone)]
pub(crate) struct Bwrap {
    program: PathBuf,
    init: PathBuf,
    proc: Proc,
}

/// The `/proc` a run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proc {
    /// Its PID namespace's own: it sees only its processes.
    Own,
    /// The service's, read-only: where the kernel refuses a new one because Docker masks parts
    /// of the container's (docker-compose 1.29 cannot lift the masks). The run then sees the
    /// container's processes; Landlock keeps it from tracing them or reading their environment,
    /// and the service is not dumpable.
    Service,
}

impl Proc {
    /// Its mount, and with its own `/proc`, no user namespaces inside the run (bubblewrap sets
    /// that through the run's `/proc/sys`, which the service's read-only one cannot give).
    fn args(self) -> &'static [&'static str] {
        match self {
            Proc::Own => &["--disable-userns", "--proc", "/proc"],
            Proc::Service => &["--ro-bind", "/proc", "/proc"],
        }
    }
}

/// System directories every run sees read-only (a symlink, as merged-/usr systems have, is
/// recreated as the same symlink).
const SYSTEM: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys"];

/// Files under the system directories that hold credentials; each is replaced by an empty one.
const MASKED_FILES: &[&str] = &["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers"];

/// Directories under the system directories that hold credentials; each becomes empty.
const MASKED_DIRS: &[&str] = &["/etc/ssh", "/etc/sudoers.d", "/etc/ssl/private"];

/// The namespaces every run gets; the user namespace is what lets bubblewrap build them without
/// privileges (in a container, without CAP_SYS_ADMIN).
const UNSHARE: &[&str] = &[
    "--unshare-user",
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    // No capabilities, even where the service runs as root.
    "--cap-drop",
    "ALL",
    "--hostname",
    "sandbox",
];

/// The program bubblewrap starts inside; looked for as `CT_SANDBOX_INIT`, beside the running
/// binary (and one directory up, where test binaries live), in `CT_BIN_DIR` and on `PATH`.
const INIT_PROGRAM: &str = "ct-sandbox";

impl Bwrap {
    /// Finds bubblewrap and the init program and starts one empty sandbox with the same
    /// namespaces as a run's; the error says what is missing and how to get it.
    pub(crate) fn detect() -> Result<Bwrap, String> {
        let program = std::env::var_os("CT_BWRAP")
            .map(PathBuf::from)
            .or_else(|| on_path("bwrap"))
            .ok_or("bubblewrap (`bwrap`) is not installed: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)")?;
        let init = find_init().ok_or_else(|| {
            format!("`{INIT_PROGRAM}` was not found beside this binary, in CT_BIN_DIR or on PATH; build it with `cargo build --workspace --bins` or set CT_SANDBOX_INIT")
        })?;
        let mut bwrap = Bwrap { program, init, proc: Proc::Own };
        if let Err(own) = bwrap.probe() {
            bwrap.proc = Proc::Service;
            if let Err(service) = bwrap.probe() {
                return Err(format!(
                    "{} cannot create namespaces here ({own}; with the service's /proc: {service}): allow unprivileged user namespaces \
                     (sysctl kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0); \
                     in a container, run it with deploy/seccomp-sandbox.json (security_opt)",
                    bwrap.program.display(),
                ));
            }
        }
        Ok(bwrap)
    }

    pub(crate) fn proc(&self) -> Proc {
        self.proc
    }

    fn probe(&self) -> Result<(), String> {
        let output = std::process::Command::new(&self.program)
            .args(UNSHARE)
            .args(["--ro-bind", "/", "/"])
            .args(self.proc.args())
            .args(["--dev", "/dev", "--"])
            .arg(&self.init)
            .arg("--check")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cannot run {}: {err}", self.program.display()))?;
        if output.status.success() {
            return Ok(());
        }
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }

    /// The command line that starts `program` inside the run's sandbox: bubblewrap's arguments,
    /// then the init program's, then `program` (whose own arguments the caller appends).
    pub(crate) fn command_line(&self, policy: &Policy, landlock: bool, program: &Path) -> (PathBuf, Vec<OsString>) {
        let mut args: Vec<OsString> = UNSHARE.iter().map(OsString::from).collect();
        let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| args.extend(items.iter().map(|i| i.as_ref().to_owned()));
        for dir in SYSTEM {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        push(&[&"--symlink", &target, &path]);
                    }
                }
                Ok(meta) if meta.is_dir() => push(&[&"--ro-bind", &path, &path]),
                _ => {}
            }
        }
        for file in MASKED_FILES.iter().filter(|f| Path::new(f).is_file()) {
            push(&[&"--ro-bind", &"/dev/null", file]);
        }
        for dir in MASKED_DIRS.iter().filter(|d| Path::new(d).is_dir()) {
            push(&[&"--tmpfs", dir]);
        }
        args.extend(self.proc.args().iter().map(OsString::from));
        let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| args.extend(items.iter().map(|i| i.as_ref().to_owned()));
        push(&[&"--dev", &"/dev", &"--tmpfs", &"/tmp", &"--tmpfs", &"/var/tmp", &"--tmpfs", &"/run"]);
        for mount in binds(policy) {
            args.extend(mount.args());
        }
        let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| args.extend(items.iter().map(|i| i.as_ref().to_owned()));
        push(&[&"--ro-bind", &self.init, &self.init, &"--chdir", &policy.workdir, &"--", &self.init]);
        if landlock {
            push(&[&"--landlock"]);
        }
        // The run's own temp directories are tmpfs mounts private to it.
        for path in policy.writable.iter().map(PathBuf::as_path).chain([Path::new("/tmp"), Path::new("/var/tmp")]) {
            push(&[&"--write", &path]);
        }
        for bridge in &policy.bridges {
            push(&[&"--bridge", &format!("{}={}", bridge.port, bridge.socket.display())]);
        }
        push(&[&"--", &program]);
        (self.program.clone(), args)
    }
}

/// One mount of the run besides the system directories.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mount {
    ReadOnly(PathBuf),
    Writable(PathBuf),
    /// Emptied: a directory becomes an empty tmpfs, a file an empty file.
    Hidden(PathBuf),
}

impl Mount {
    fn path(&self) -> &Path {
        match self {
            Mount::ReadOnly(p) | Mount::Writable(p) | Mount::Hidden(p) => p,
        }
    }

    fn args(&self) -> Vec<OsString> {
        let path = self.path().as_os_str().to_owned();
        match self {
            Mount::ReadOnly(_) => vec!["--ro-bind".into(), path.clone(), path],
            Mount::Writable(_) => vec!["--bind".into(), path.clone(), path],
            Mount::Hidden(_) if self.path().is_dir() => vec!["--tmpfs".into(), path],
            Mount::Hidden(_) => vec!["--ro-bind".into(), "/dev/null".into(), path],
        }
    }
}

/// Credential files a toolchain directory may hold (cargo's registry token, npm's and pip's
/// upload credentials, netrc, git's store); emptied wherever a run sees one.
const TOOL_CREDENTIALS: &[&str] =
    &["credentials.toml", "credentials", ".credentials.json", ".npmrc", ".pypirc", ".netrc", ".git-credentials"];

/// Every mount of the run besides the system directories, parents before what lies beneath them
/// (a later mount hides what an earlier one put below it), so that the git directory inside a
/// writable worktree stays read-only and a hidden path inside a visible one is emptied. Paths
/// that do not exist are left out.
fn binds(policy: &Policy) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    let sockets = policy.bridges.iter().filter_map(|b| b.socket.parent().map(Path::to_path_buf));
    // A tool inside the worktree (a project's `.venv`) stays as writable as the worktree.
    let in_writable = |p: &PathBuf| policy.writable.iter().any(|w| p.starts_with(w));
    let read_only: Vec<PathBuf> =
        policy.read_only.iter().filter(|p| !under_system(p) && !in_writable(p)).cloned().chain(sockets).collect();
    let credentials = read_only.iter().flat_map(|dir| TOOL_CREDENTIALS.iter().map(move |name| dir.join(name)));
    let candidates = read_only
        .iter()
        .cloned()
        .map(Mount::ReadOnly)
        .chain(policy.writable.iter().cloned().map(Mount::Writable))
        .chain(policy.protected.iter().cloned().map(Mount::ReadOnly))
        .chain(policy.hidden.iter().cloned().chain(credentials.collect::<Vec<_>>()).map(Mount::Hidden));
    for mount in candidates {
        let path = mount.path();
        let exists = path.symlink_metadata().is_ok_and(|m| !m.is_symlink());
        // A hidden path matters only where something visible holds it.
        let needed = !matches!(mount, Mount::Hidden(_))
            || mounts.iter().any(|m| !matches!(m, Mount::Hidden(_)) && path.starts_with(m.path()));
        if exists && needed && !mounts.contains(&mount) {
            mounts.push(mount);
        }
    }
    // Stable: for one depth, the order above (read-only, writable, protected, hidden) decides.
    mounts.sort_by_key(|m| m.path().components().count());
    mounts
}

fn under_system(path: &Path) -> bool {
    SYSTEM.iter().any(|dir| path.starts_with(dir))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn find_init() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CT_SANDBOX_INIT") {
        return Some(PathBuf::from(path));
    }
    let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    let candidates = exe_dir
        .iter()
        .flat_map(|dir| [Some(dir.clone()), dir.parent().map(Path::to_path_buf)])
        .flatten()
        .chain(std::env::var_os("CT_BIN_DIR").map(PathBuf::from));
    candidates.map(|dir| dir.join(INIT_PROGRAM)).find(|p| p.is_file()).or_else(|| on_path(INIT_PROGRAM))
}

/// [`tool_dirs`] of the service's own `PATH` (under its HOME), worked out once: it reads every
/// `PATH` directory (thousands of entries in `/usr/bin`), the same for every run of the service.
pub fn service_tool_dirs() -> &'static [PathBuf] {
    static DIRS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| std::env::var_os("PATH").map(|path| tool_dirs(&path, &service_homes())).unwrap_or_default())
}

/// The service's HOME, the one home directory a tool directory must never be widened to.
pub fn service_homes() -> Vec<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from).into_iter().collect()
}

/// The directories a run needs to see, read-only, to find the programs on `path_var`: each
/// entry, or the tool's whole directory when the entry is its `bin` (`~/.cargo/bin` gives
/// `~/.cargo`, `.venv/bin` the venv), and the install a program there links to (a venv's
/// interpreter, a package's launcher). A home directory itself is never given whole.
pub fn tool_dirs(path_var: &std::ffi::OsStr, homes: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut add = |dir: PathBuf| {
        let whole_home = dir == Path::new("/") || is_home(&dir, homes);
        if !whole_home && !under_system(&dir) && !dirs.iter().any(|d: &PathBuf| dir.starts_with(d)) {
            dirs.retain(|d: &PathBuf| !d.starts_with(&dir));
            dirs.push(dir);
        }
    };
    for entry in std::env::split_paths(path_var).filter(|p| p.is_absolute() && p.is_dir()) {
        let Ok(entry) = entry.canonicalize() else { continue };
        add(tool_root(&entry, homes));
        let Ok(programs) = std::fs::read_dir(&entry) else { continue };
        for program in programs.flatten() {
            if program.file_type().is_ok_and(|t| t.is_symlink())
                && let Ok(target) = program.path().canonicalize()
                && let Some(bin) = target.parent()
            {
                add(tool_root(bin, homes));
            }
        }
    }
    dirs
}

fn tool_root(bin: &Path, homes: &[PathBuf]) -> PathBuf {
    let named_bin = bin.file_name().is_some_and(|n| n == "bin" || n == ".bin");
    match bin.parent() {
        Some(parent) if named_bin && parent.parent().is_some() && !is_home(parent, homes) => parent.to_path_buf(),
        _ => bin.to_path_buf(),
    }
}

fn is_home(dir: &Path, homes: &[PathBuf]) -> bool {
    homes.iter().any(|h| h == dir) || dir == Path::new("/root") || dir.parent() == Some(Path::new("/home"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_dirs_give_tools_not_homes() -> std::io::Result<()> {
        let scratch = tempfile::tempdir()?;
        let home = scratch.path().canonicalize()?.join("home");
        for dir in [".cargo/bin", "bin", "py/3.11/bin", "venv/bin"] {
            std::fs::create_dir_all(home.join(dir))?;
        }
        std::fs::write(home.join("py/3.11/bin/python3.11"), "")?;
        std::os::unix::fs::symlink(home.join("py/3.11/bin/python3.11"), home.join("venv/bin/python"))?;
        let path =
            std::env::join_paths([home.join(".cargo/bin"), home.join("bin"), home.join("venv/bin"), "/usr/bin".into()])
                .map_err(std::io::Error::other)?;
        let dirs = tool_dirs(&path, std::slice::from_ref(&home));
        assert_eq!(dirs, [home.join(".cargo"), home.join("bin"), home.join("venv"), home.join("py/3.11")]);
        let whole = std::env::join_paths([home.clone(), "/".into()]).map_err(std::io::Error::other)?;
        assert!(tool_dirs(&whole, std::slice::from_ref(&home)).is_empty(), "a home or / is never a tool");
        Ok(())
    }

    #[test]
    fn the_git_directory_is_mounted_read_only_over_the_writable_worktree() {
        let scratch = tempfile::tempdir().unwrap();
        let worktree = scratch.path().join("project");
        std::fs::create_dir_all(worktree.join(".git")).unwrap();
        let policy = Policy {
            workdir: worktree.clone(),
            writable: vec![worktree.clone()],
            protected: vec![worktree.join(".git")],
            ..Policy::default()
        };
        assert_eq!(binds(&policy), [Mount::Writable(worktree.clone()), Mount::ReadOnly(worktree.join(".git"))]);
        assert_eq!(Mount::Hidden(worktree.clone()).args(), ["--tmpfs", worktree.to_str().unwrap()]);
    }
}

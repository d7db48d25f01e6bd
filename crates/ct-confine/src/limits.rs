//! Resource limits set in the child between fork and exec.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Per-process limits for every process of a run; `None` leaves the service's own limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// CPU seconds each process may use (SIGXCPU, then SIGKILL).
    pub cpu_secs: Option<u64>,
    /// Largest file a process may write, in bytes.
    pub file_size_bytes: Option<u64>,
    pub open_files: Option<u64>,
    /// Processes the service's user may have (the kernel counts them per user, not per run).
    pub processes: Option<u64>,
}

impl From<&ct_config::SandboxSettings> for ResourceLimits {
    fn from(settings: &ct_config::SandboxSettings) -> ResourceLimits {
        ResourceLimits {
            cpu_secs: settings.max_cpu_secs,
            file_size_bytes: settings.max_file_bytes,
            open_files: settings.max_open_files,
            processes: settings.max_processes,
        }
    }
}

impl ResourceLimits {
    /// Lowers each configured limit, soft and hard, never above the current hard limit (only a
    /// privileged process could raise it). Runs in the forked child: plain syscalls only.
    pub(crate) fn apply(&self) -> std::io::Result<()> {
        for (resource, limit) in [
            (Resource::RLIMIT_CPU, self.cpu_secs),
            (Resource::RLIMIT_FSIZE, self.file_size_bytes),
            (Resource::RLIMIT_NOFILE, self.open_files),
            (Resource::RLIMIT_NPROC, self.processes),
        ] {
            let Some(limit) = limit else { continue };
            let (_, hard) = getrlimit(resource)?;
            let value = limit.min(hard);
            setrlimit(resource, value, value)?;
        }
        Ok(())
    }
}

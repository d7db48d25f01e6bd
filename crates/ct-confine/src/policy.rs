//! From a run's policy to a Landlock ruleset built in the service, enforced in the child
//! between fork and exec.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

use crate::abi::{Confinement, Mode, kernel_abi};
use crate::error::Error;
use crate::limits::ResourceLimits;
use crate::world::readable_roots;

/// The newest ABI whose rights this crate asks for (and is tested with); newer kernels enforce
/// exactly these rights, older ones the subset they know.
const TESTED_ABI: ABI = ABI::V6;

/// Device files every toolchain writes to; they are no way out of the run.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/shm",
];

/// From linux/capability.h; the libc crate does not name capabilities.
const CAP_SYS_PTRACE: libc::c_ulong = 19;

/// What one run may touch.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Directories and files the run may change (and read): its worktree, its private HOME and
    /// TMPDIR, toolchain caches. Missing ones are skipped.
    pub writable: Vec<PathBuf>,
    /// Paths the run may not read although the rest of the file system is readable: the
    /// service's state (other runs' directories, tokens, transcripts). Missing ones are skipped.
    pub hidden: Vec<PathBuf>,
    /// TCP ports the run may connect to; `None` leaves the network open. Binding is refused
    /// whenever this is set.
    pub connect_ports: Option<Vec<u16>>,
    pub limits: ResourceLimits,
}

/// What a service can confine runs with, decided once at its start.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox {
    mode: Mode,
    abi: Option<u8>,
}

impl Sandbox {
    /// Checks the kernel against the operator's mode; `network_rules` says whether runs will
    /// have a network policy, which needs Landlock's TCP rules.
    pub fn new(mode: Mode, network_rules: bool) -> Result<Sandbox, Error> {
        let abi = kernel_abi();
        if mode == Mode::Required && abi.is_none() {
            return Err(Error::Unsupported);
        }
        if network_rules && mode != Mode::Off && abi.is_none_or(|v| v < 4) {
            return Err(Error::NoNetworkRules {
                have: abi.map_or_else(|| "no Landlock".to_owned(), |v| format!("ABI {v}")),
            });
        }
        Ok(Sandbox { mode, abi })
    }

    /// Landlock where the kernel has it, no network rules: what a service without settings gets.
    pub fn auto() -> Sandbox {
        Sandbox { mode: Mode::Auto, abi: kernel_abi() }
    }

    /// From the operator's `sandbox.*` settings (already checked by ct-config).
    pub fn configured(settings: &ct_config::SandboxSettings, network_rules: bool) -> Result<Sandbox, Error> {
        let mode = settings.mode.parse::<Mode>().map_err(Error::Mode)?;
        Sandbox::new(mode, network_rules)
    }

    /// The confinement every run of this service gets.
    pub fn confinement(&self) -> Confinement {
        match (self.mode, self.abi) {
            (Mode::Off, _) | (_, None) => Confinement::None,
            (_, Some(abi)) => Confinement::Landlock(abi),
        }
    }

    /// A sentence for the service's start-up log.
    pub fn describe(&self) -> String {
        match (self.mode, self.abi) {
            (Mode::Off, _) => "runs are not confined: CT_SANDBOX=off".to_owned(),
            (_, None) => "runs are NOT confined: this kernel has no Landlock (results say \
                          confinement=none); CT_SANDBOX=required refuses to start instead"
                .to_owned(),
            (_, Some(abi)) => format!("runs are confined with Landlock ABI {abi}"),
        }
    }

    /// Builds the run's ruleset here, in the service, where opening paths and allocating is
    /// allowed; the child only enforces it.
    pub fn prepare(&self, policy: &Policy) -> Result<Prepared, Error> {
        let confinement = self.confinement();
        let ruleset = match confinement {
            Confinement::Landlock(_) => Some(ruleset(policy)?),
            Confinement::None => None,
        };
        Ok(Prepared {
            ruleset,
            limits: policy.limits,
            confinement,
        })
    }
}

/// A run's confinement, ready to be installed on the command that starts it.
#[derive(Debug)]
pub struct Prepared {
    ruleset: Option<RulesetCreated>,
    limits: ResourceLimits,
    confinement: Confinement,
}

impl Prepared {
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// Makes the command's child set its limits, `no_new_privs` and the Landlock domain before
    /// it executes the program; every process it starts inherits them.
    pub fn install(self, command: &mut tokio::process::Command) {
        let mut ruleset = self.ruleset;
        let limits = self.limits;
        let is_root = nix::unistd::geteuid().is_root();
        #[allow(unsafe_code)]
        // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
        // work is allowed. setrlimit, prctl and landlock_restrict_self are plain syscalls; the
        // ruleset was built (paths opened, memory allocated) in the parent, and errors are
        // reported as raw OS errors, which do not allocate.
        unsafe {
            command.pre_exec(move || {
                limits.apply()?;
                // Root would keep reading the service's /proc/<pid>/environ through
                // CAP_SYS_PTRACE (see `protect_service`); without it in the bounding set, the
                // program exec'd as root never gets it back.
                if is_root && libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                match ruleset.take() {
                    // Sets no_new_privs itself, first.
                    Some(ruleset) => ruleset
                        .restrict_self()
                        .map(drop)
                        .map_err(|_| std::io::Error::last_os_error()),
                    None => nix::sys::prctl::set_no_new_privs().map_err(std::io::Error::from),
                }
            });
        }
    }
}

fn ruleset(policy: &Policy) -> Result<RulesetCreated, Error> {
    let ll = |err: landlock::RulesetError| Error::Ruleset(err.to_string());
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TESTED_ABI))
        .map_err(ll)?
        // Signals and abstract sockets reach only processes of the run's own domain: the
        // agent cannot signal the service or talk to sockets it did not make.
        .scope(Scope::from_all(TESTED_ABI))
        .map_err(ll)?;
    if policy.connect_ports.is_some() {
        ruleset = ruleset.handle_access(AccessNet::from_all(TESTED_ABI)).map_err(ll)?;
    }
    let mut created = ruleset.create().map_err(ll)?;

    let hidden: Vec<PathBuf> = policy.hidden.iter().filter_map(|p| p.canonicalize().ok()).collect();
    for root in readable_roots(&hidden) {
        created = add_path(created, &root, AccessFs::from_read(TESTED_ABI))?;
    }
    let writable = policy.writable.iter().map(PathBuf::as_path).chain(DEVICES.iter().map(Path::new));
    for path in writable.filter(|p| p.exists()) {
        created = add_path(created, path, AccessFs::from_all(TESTED_ABI))?;
    }
    for port in policy.connect_ports.iter().flatten() {
        created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp)).map_err(ll)?;
    }
    Ok(created)
}

/// Grants `access` beneath `path`, narrowed to what applies to a file when it is one.
fn add_path(ruleset: RulesetCreated, path: &Path, access: BitFlags<AccessFs>) -> Result<RulesetCreated, Error> {
    let failed = |message: String| Error::Path { path: path.to_path_buf(), message };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        // Listed a moment ago and gone now (a journal, a lock file): nothing left to grant.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(ruleset),
        Err(err) => return Err(failed(err.to_string())),
    };
    let access = if metadata.is_dir() {
        access
    } else if metadata.file_type().is_char_device() || metadata.is_file() {
        access & AccessFs::from_file(TESTED_ABI)
    } else {
        // Sockets and fifos outside the run are not its business.
        return Ok(ruleset);
    };
    let fd = match PathFd::new(path) {
        Ok(fd) => fd,
        Err(_) if !path.exists() => return Ok(ruleset),
        Err(err) => return Err(failed(err.to_string())),
    };
    ruleset.add_rule(PathBeneath::new(fd, access)).map_err(|e| failed(e.to_string()))
}

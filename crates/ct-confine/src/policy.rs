//! From a run's policy to a Landlock ruleset built in the service, enforced in the child
//! between fork and exec.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope,
};

use crate::abi::{Confinement, Mode, kernel_abi};
use crate::error::Error;
use crate::limits::ResourceLimits;
use crate::namespaces::{Bwrap, Proc};
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
    /// Where the run starts; one of `writable`.
    pub workdir: PathBuf,
    /// Directories and files the run may change (and read): its worktree, its private HOME and
    /// TMPDIR, caches. Missing ones are skipped.
    pub writable: Vec<PathBuf>,
    /// What a run in namespaces sees read-only besides the system directories: toolchains, the
    /// agent CLI. (Landlock alone leaves everything not hidden readable.)
    pub read_only: Vec<PathBuf>,
    /// Read-only even where they lie inside a writable path: the repository's git directory.
    pub protected: Vec<PathBuf>,
    /// Paths a run confined by Landlock alone may not read although the rest of the file system
    /// is readable: the service's state. (In namespaces, nothing unlisted exists.)
    pub hidden: Vec<PathBuf>,
    /// TCP ports a run confined by Landlock alone may connect to; `None` leaves the network
    /// open. In namespaces there is no network but `bridges`.
    pub connect_ports: Option<Vec<u16>>,
    /// Loopback ports inside the run's network namespace that lead to the service's sockets.
    pub bridges: Vec<Bridge>,
    pub limits: ResourceLimits,
}

/// A loopback TCP port inside a run's network namespace whose connections the init program
/// carries to a Unix socket the service listens on (the model relay, the egress proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub port: u16,
    pub socket: PathBuf,
}

/// What a service can confine runs with, decided once at its start.
#[derive(Debug, Clone)]
pub struct Sandbox {
    mode: Mode,
    abi: Option<u8>,
    /// Bubblewrap, or why runs get no namespaces.
    namespaces: Result<Bwrap, String>,
}

impl Sandbox {
    /// Checks the machine against the operator's mode; `network_rules` says whether runs
    /// without namespaces will have a network policy, which needs Landlock's TCP rules.
    pub fn new(mode: Mode, network_rules: bool) -> Result<Sandbox, Error> {
        let abi = kernel_abi();
        let namespaces = match mode {
            Mode::Off => Err("CT_SANDBOX=off".to_owned()),
            Mode::Auto | Mode::Required => Bwrap::detect(),
        };
        if mode == Mode::Required {
            let mut missing = Vec::new();
            if let Err(why) = &namespaces {
                missing.push(format!("namespaces: {why}"));
            }
            if abi.is_none() {
                missing.push(
                    "Landlock: this kernel has none; boot Linux 5.13+ with Landlock enabled (`lsm=...,landlock`)"
                        .to_owned(),
                );
            }
            if !missing.is_empty() {
                return Err(Error::Unsupported(missing.join("; ")));
            }
        }
        if network_rules && namespaces.is_err() && mode != Mode::Off && abi.is_none_or(|v| v < 4) {
            return Err(Error::NoNetworkRules {
                have: abi.map_or_else(|| "no Landlock".to_owned(), |v| format!("ABI {v}")),
            });
        }
        Ok(Sandbox { mode, abi, namespaces })
    }

    /// Every layer the machine offers, no network rules: what a service without settings gets.
    pub fn auto() -> Sandbox {
        Sandbox { mode: Mode::Auto, abi: kernel_abi(), namespaces: Bwrap::detect() }
    }

    /// From the operator's `sandbox.*` settings (already checked by ct-config).
    pub fn configured(settings: &ct_config::SandboxSettings, network_rules: bool) -> Result<Sandbox, Error> {
        let mode = settings.mode.parse::<Mode>().map_err(Error::Mode)?;
        Sandbox::new(mode, network_rules)
    }

    /// The same sandbox as on a machine without bubblewrap: Landlock alone. For comparing the
    /// layers (tests, the confinement cost benchmarks).
    pub fn without_namespaces(self) -> Sandbox {
        Sandbox { namespaces: Err("left out on purpose".to_owned()), ..self }
    }

    /// The confinement every run of this service gets.
    pub fn confinement(&self) -> Confinement {
        if self.mode == Mode::Off {
            return Confinement::NONE;
        }
        Confinement { namespaces: self.namespaces.is_ok(), landlock: self.abi }
    }

    /// Whether runs get namespaces of their own (and so reach the network only through bridges).
    pub fn has_namespaces(&self) -> bool {
        self.confinement().namespaces
    }

    /// A sentence for the service's start-up log.
    pub fn describe(&self) -> String {
        let confinement = self.confinement();
        match (self.mode, &self.namespaces, confinement.landlock) {
            (Mode::Off, _, _) => "runs are not confined: CT_SANDBOX=off".to_owned(),
            (_, Ok(bwrap), _) if bwrap.proc() == Proc::Service => format!(
                "runs are confined: {confinement} (own mount, network, PID and IPC namespaces; their /proc \
                 is the service's, read-only, and they may make user namespaces of their own, because the \
                 kernel refuses a new /proc under Docker's masked paths: `security_opt: systempaths=unconfined` \
                 with Compose v2 or docker run gives them their own)"
            ),
            (_, Ok(_), _) => format!("runs are confined: {confinement} (own mount, network, PID and IPC namespaces)"),
            (_, Err(why), Some(_)) => format!(
                "runs are confined with {confinement} only, without namespaces of their own ({why}); \
                 CT_SANDBOX=required refuses to start instead"
            ),
            (_, Err(why), None) => format!(
                "runs are NOT confined: no namespaces ({why}) and no Landlock in this kernel (results say \
                 confinement=none); CT_SANDBOX=required refuses to start instead"
            ),
        }
    }

    /// Builds the run's confinement here, in the service, where opening paths and allocating is
    /// allowed; the child only enforces it.
    pub fn prepare(&self, policy: &Policy) -> Result<Prepared, Error> {
        let confinement = self.confinement();
        let how = match (&self.namespaces, confinement) {
            (_, c) if !c.is_confined() => How::Unconfined,
            (Ok(bwrap), c) => How::Namespaces {
                bwrap: bwrap.clone(),
                policy: Box::new(policy.clone()),
                landlock: c.landlock.is_some(),
            },
            (Err(_), _) => How::Landlock(ruleset(policy)?),
        };
        Ok(Prepared { how, limits: policy.limits, confinement })
    }
}

#[derive(Debug)]
enum How {
    Unconfined,
    /// Landlock alone, enforced between fork and exec.
    Landlock(RulesetCreated),
    /// Bubblewrap builds the namespaces; its init program adds Landlock inside.
    Namespaces {
        bwrap: Bwrap,
        // Boxed: a policy is far larger than the other variants.
        policy: Box<Policy>,
        landlock: bool,
    },
}

/// A run's confinement, ready to start its program.
#[derive(Debug)]
pub struct Prepared {
    how: How,
    limits: ResourceLimits,
    confinement: Confinement,
}

impl Prepared {
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// The command that runs `program` confined, leading a session of its own (a new process
    /// group whose id is its pid, and no controlling terminal to push keystrokes into); the
    /// caller adds arguments, environment and stdio. Limits and `no_new_privs` are set in the
    /// child before it executes anything, and every process it starts inherits them.
    pub fn command(self, program: &Path) -> tokio::process::Command {
        let limits = self.limits;
        let (mut command, ruleset) = match self.how {
            How::Namespaces { bwrap, policy, landlock } => {
                let (bwrap, args) = bwrap.command_line(&policy, landlock, program);
                let mut command = tokio::process::Command::new(bwrap);
                command.args(args).current_dir(&policy.workdir);
                (command, None)
            }
            How::Landlock(ruleset) => (tokio::process::Command::new(program), Some(ruleset)),
            How::Unconfined => (tokio::process::Command::new(program), None),
        };
        install(&mut command, limits, ruleset);
        command
    }
}

fn install(command: &mut tokio::process::Command, limits: ResourceLimits, ruleset: Option<RulesetCreated>) {
    let mut ruleset = ruleset;
    let is_root = nix::unistd::geteuid().is_root();
    #[allow(unsafe_code)]
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe work
    // is allowed. setsid, setrlimit, prctl and landlock_restrict_self are plain syscalls; the
    // ruleset was built (paths opened, memory allocated) in the parent, and errors are reported
    // as raw OS errors, which do not allocate.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            limits.apply()?;
            // Root would keep reading the service's /proc/<pid>/environ through
            // CAP_SYS_PTRACE (see `protect_service`); without it in the bounding set, the
            // program exec'd as root never gets it back.
            if is_root && libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            match ruleset.take() {
                // Sets no_new_privs itself, first.
                Some(ruleset) => ruleset.restrict_self().map(drop).map_err(|_| std::io::Error::last_os_error()),
                None => nix::sys::prctl::set_no_new_privs().map_err(std::io::Error::from),
            }
        });
    }
}

pub(crate) fn ruleset(policy: &Policy) -> Result<RulesetCreated, Error> {
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

//! How this service confines its runs, decided at start (Landlock, namespaces, or nothing), and
//! a run's confinement prepared from its policy: the ruleset built in the service, enforced in
//! the child between fork and exec.

use std::path::Path;

use landlock::RulesetCreated;

use crate::abi::{Confinement, Mode, kernel_abi};
use crate::error::Error;
use crate::limits::ResourceLimits;
use crate::namespaces::{Bwrap, Proc};
use crate::policy::{Policy, ruleset};

/// From linux/capability.h; the libc crate does not name capabilities.
const CAP_SYS_PTRACE: libc::c_ulong = 19;

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

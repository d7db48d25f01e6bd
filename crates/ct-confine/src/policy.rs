//! What one run may touch (its policy), and the Landlock ruleset built from it in the service.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope,
};

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

//! What the kernel offers, what the operator asked for, and the label a result carries.

use std::fmt;
use std::str::FromStr;

/// How strictly runs are confined, as the operator configured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every layer the machine offers (namespaces through bubblewrap, Landlock); a run says which
    /// held, and goes unconfined (saying so) where neither does.
    #[default]
    Auto,
    /// Refuse to start unless both namespaces and Landlock work.
    Required,
    /// No confinement, for measuring what it costs or for debugging a toolchain it blocks.
    Off,
}

impl Mode {
    pub const NAMES: &'static str = "auto, required or off";
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(value: &str) -> Result<Mode, String> {
        match value {
            "auto" => Ok(Mode::Auto),
            "required" => Ok(Mode::Required),
            "off" => Ok(Mode::Off),
            other => Err(format!("`{other}` is not a confinement mode; expected {}", Mode::NAMES)),
        }
    }
}

/// The confinement a run actually got; its `Display` is the `confinement` field of results:
/// `bwrap+landlock-v7`, `bwrap`, `landlock-v7` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// The run has mount, network, PID and IPC namespaces of its own (bubblewrap).
    pub namespaces: bool,
    /// The Landlock ABI version of the run's domain.
    pub landlock: Option<u8>,
}

impl Confinement {
    pub const NONE: Confinement = Confinement { namespaces: false, landlock: None };

    pub fn is_confined(self) -> bool {
        self.namespaces || self.landlock.is_some()
    }
}

impl fmt::Display for Confinement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.namespaces, self.landlock) {
            (true, Some(abi)) => write!(f, "bwrap+landlock-v{abi}"),
            (true, None) => f.write_str("bwrap"),
            (false, Some(abi)) => write!(f, "landlock-v{abi}"),
            (false, None) => f.write_str("none"),
        }
    }
}

/// The Landlock ABI version of the running kernel; `None` when it has no Landlock (not built
/// in, or not enabled at boot).
pub(crate) fn kernel_abi() -> Option<u8> {
    #[allow(unsafe_code)]
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag only
    // returns a number (or -1 with errno); it reads and writes no memory. The landlock crate
    // makes this query but keeps it private.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    u8::try_from(version).ok().filter(|&v| v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_labels_read_as_results_show_them() {
        assert_eq!("required".parse::<Mode>(), Ok(Mode::Required));
        assert!("strict".parse::<Mode>().unwrap_err().contains("auto, required or off"));
        let label = |namespaces, landlock| Confinement { namespaces, landlock }.to_string();
        assert_eq!(label(true, Some(7)), "bwrap+landlock-v7");
        assert_eq!(label(true, None), "bwrap");
        assert_eq!(label(false, Some(6)), "landlock-v6");
        assert_eq!(Confinement::NONE.to_string(), "none");
    }
}

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("CT_SANDBOX: {0}")]
    Mode(String),
    #[error(
        "confinement is required (CT_SANDBOX=required) but this machine lacks it: {0}; or set \
         CT_SANDBOX=auto to run with the layers that work"
    )]
    Unsupported(String),
    #[error(
        "the network policy (CT_SANDBOX_NETWORK=model) needs Landlock ABI 4 (Linux 6.7) for TCP \
         rules, and this kernel has {have}; set CT_SANDBOX_NETWORK=open or run on a newer kernel"
    )]
    NoNetworkRules { have: String },
    #[error("cannot confine the run to {path}: {message}")]
    Path { path: PathBuf, message: String },
    #[error("cannot build the run's Landlock rules: {0}")]
    Ruleset(String),
}

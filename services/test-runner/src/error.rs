use std::path::PathBuf;

/// Why a test run could not be carried out. Failing tests are not an error:
/// they are a normal [`RunTestsResponse`](ct_proto::test_runner::RunTestsResponse).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("project_path is empty: give the absolute path of the project whose tests to run")]
    EmptyProjectPath,

    #[error(
        "project path {0} is relative: give an absolute path, the test-runner's working directory is not the caller's"
    )]
    RelativeProjectPath(PathBuf),

    #[error("project path {0} does not exist")]
    ProjectMissing(PathBuf),

    #[error("project path {0} is not a directory")]
    NotADirectory(PathBuf),

    #[error(
        "unknown framework value {0}: use 0 to detect, or JEST (1), PYTEST (2), CARGO (3) or GO (4)"
    )]
    UnknownFramework(i32),

    #[error(
        "no test framework detected in {0}: looked for package.json (Jest/npm), Cargo.toml (cargo), \
         go.mod (go), and for pytest pytest.ini, pyproject.toml, setup.py, setup.cfg or a tests/ folder \
         containing .py files; set `framework` in the request (JEST, PYTEST, CARGO or GO) to choose one explicitly"
    )]
    NoFramework(PathBuf),

    #[error(
        "{0}/package.json has no \"test\" script and does not list jest: add a \"test\" script or jest as a devDependency, \
         or set `framework` in the request to choose another framework"
    )]
    NoTestScript(PathBuf),

    #[error("could not read {path}: {source}")]
    ReadProjectFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not valid JSON: {source}")]
    InvalidPackageJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{tool} is not available: {hint}")]
    ToolMissing { tool: String, hint: String },

    #[error("could not start `{command}` in {dir}: {source}")]
    Spawn {
        command: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not create a temporary directory for the runner's report: {0}")]
    TempDir(#[source] std::io::Error),

    #[error("could not wait for `{command}`: {source}")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the test-runner is shutting down; the test run was stopped, retry it")]
    ShuttingDown,

    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        match err {
            Error::EmptyProjectPath
            | Error::RelativeProjectPath(_)
            | Error::ProjectMissing(_)
            | Error::NotADirectory(_)
            | Error::UnknownFramework(_) => tonic::Status::invalid_argument(message),
            Error::NoFramework(_)
            | Error::NoTestScript(_)
            | Error::ReadProjectFile { .. }
            | Error::InvalidPackageJson { .. }
            | Error::ToolMissing { .. } => tonic::Status::failed_precondition(message),
            Error::ShuttingDown => tonic::Status::unavailable(message),
            Error::Spawn { .. } | Error::TempDir(_) | Error::Wait { .. } | Error::Serve(_) => {
                tonic::Status::internal(message)
            }
        }
    }
}

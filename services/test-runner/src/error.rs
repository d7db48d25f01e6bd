use std::path::PathBuf;

use ct_contracts::failure::{self, AGENT_FAILED, INVALID_PROJECT, NO_TEST_FRAMEWORK, NOT_ALLOWED};
use temporalio_sdk::activities::ActivityError;

/// Why a test run could not be carried out. Failing tests are not an error:
/// they are a normal [`TestReport`](ct_contracts::TestReport).
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
        "no test framework detected in {0}: looked for package.json (Jest/npm), Cargo.toml (cargo), \
         go.mod (go), and for pytest pytest.ini, pyproject.toml, setup.py, setup.cfg or a tests/ folder \
         containing .py files"
    )]
    NoFramework(PathBuf),

    #[error(
        "{0}/package.json has no \"test\" script and does not list jest: add a \"test\" script or jest as a devDependency"
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

    #[error("could not make the test run's private directory (HOME, TMPDIR, reports) in the state dir: {0}")]
    TempDir(#[source] std::io::Error),

    #[error(transparent)]
    Confine(ct_confine::Error),

    #[error("could not wait for `{command}`: {source}")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the test run was stopped (cancelled, its lease lost, or the test-runner shutting down); retry it")]
    Stopped,

    #[error(transparent)]
    OutsideRoots(#[from] ct_fleet::RootsError),

    #[error("the test-runner could not serve: {0}")]
    Serve(String),
}

impl Error {
    /// The activity failure type the workflow sees: a bad path or a project without tests
    /// fails the stage at once, anything else is retried.
    pub fn failure_type(&self) -> &'static str {
        match self {
            Error::EmptyProjectPath
            | Error::RelativeProjectPath(_)
            | Error::ProjectMissing(_)
            | Error::NotADirectory(_)
            | Error::OutsideRoots(ct_fleet::RootsError::Missing { .. }) => INVALID_PROJECT,
            Error::OutsideRoots(_) => NOT_ALLOWED,
            Error::NoFramework(_)
            | Error::NoTestScript(_)
            | Error::ReadProjectFile { .. }
            | Error::InvalidPackageJson { .. }
            | Error::ToolMissing { .. } => NO_TEST_FRAMEWORK,
            Error::Stopped
            | Error::Spawn { .. }
            | Error::TempDir(_)
            | Error::Confine(_)
            | Error::Wait { .. }
            | Error::Serve(_) => AGENT_FAILED,
        }
    }

    pub(crate) fn into_activity_error(self) -> ActivityError {
        let kind = self.failure_type();
        failure::typed(kind, self.to_string(), kind != AGENT_FAILED)
    }
}

//! Workspace roots: a service accepts a project only when its real path (symlinks resolved)
//! lies under one of them, so no workflow can point an agent at the rest of the machine.

use std::path::{Path, PathBuf};

/// The default holds no root and refuses every path.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceRoots {
    roots: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error(
        "no workspace root is configured: set CT_WORKSPACE_ROOTS (directories separated by `:`) \
         or pass --workspace-root DIR to say where projects may live"
    )]
    NoneGiven,
    #[error("workspace root {path} cannot be used: {reason}")]
    BadRoot { path: PathBuf, reason: String },
    #[error("project path {path:?} does not exist or cannot be read ({reason})")]
    Missing { path: String, reason: String },
    #[error(
        "project path {path:?} (really {real}) is outside this service's workspace roots ({roots}); \
         put the project under one of them or add its directory to CT_WORKSPACE_ROOTS"
    )]
    Outside { path: String, real: PathBuf, roots: String },
}

impl WorkspaceRoots {
    /// Canonicalises every root; each must be an existing directory.
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Result<Self, RootsError> {
        let roots = roots
            .into_iter()
            .filter(|root| !root.as_os_str().is_empty())
            .map(|root| match root.canonicalize() {
                Ok(real) if real.is_dir() => Ok(real),
                Ok(_) => Err(RootsError::BadRoot { path: root, reason: "not a directory".to_owned() }),
                Err(err) => Err(RootsError::BadRoot { path: root, reason: err.to_string() }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if roots.is_empty() {
            return Err(RootsError::NoneGiven);
        }
        Ok(Self { roots })
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The project's real path, if it lies under a root.
    pub fn check(&self, project: &str) -> Result<PathBuf, RootsError> {
        if self.roots.is_empty() {
            return Err(RootsError::NoneGiven);
        }
        let real = Path::new(project)
            .canonicalize()
            .map_err(|err| RootsError::Missing { path: project.to_owned(), reason: err.to_string() })?;
        if self.roots.iter().any(|root| real.starts_with(root)) {
            Ok(real)
        } else {
            Err(RootsError::Outside { path: project.to_owned(), real, roots: self.to_string() })
        }
    }
}

impl std::fmt::Display for WorkspaceRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        f.write_str(&shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_root_pass_and_everything_else_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let project = root.path().join("project");
        std::fs::create_dir(&project)?;
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape"))?;
        let roots = WorkspaceRoots::new([root.path().to_path_buf()])?;

        assert_eq!(roots.check(project.to_str().unwrap())?, project.canonicalize()?);
        let dotted = format!("{}/project/../project", root.path().display());
        assert!(roots.check(&dotted).is_ok());
        for refused in [outside.path().to_path_buf(), root.path().join("escape"), root.path().join("project/../..")] {
            let err = roots.check(refused.to_str().unwrap()).unwrap_err();
            assert!(matches!(err, RootsError::Outside { .. }), "{refused:?}: {err}");
            assert!(err.to_string().contains("CT_WORKSPACE_ROOTS"));
        }
        assert!(matches!(roots.check("/no/such/dir").unwrap_err(), RootsError::Missing { .. }));
        Ok(())
    }

    #[test]
    fn no_root_or_a_missing_root_is_a_configuration_error() {
        assert!(matches!(WorkspaceRoots::new([]).unwrap_err(), RootsError::NoneGiven));
        assert!(matches!(
            WorkspaceRoots::new([PathBuf::from("/no/such/root")]).unwrap_err(),
            RootsError::BadRoot { .. }
        ));
    }
}

//! What a run changed in the work tree, measured through libgit2 (ct-git) without
//! touching the user's index, refs or files, and without running anything the repository
//! configures: the whole tree is recorded as a tree object before and after the run, in an
//! index that only ever lives in memory, and the two trees are compared. libgit2 blocks, so
//! every call runs on the blocking pool.

use std::path::{Path, PathBuf};

use ct_git::{GitError, TreeChanges};

use crate::error::Error;

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, GitError> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(work).await.map_err(|join| Error::GitStopped(join.to_string()))?.map_err(Error::from)
}

/// Checks that `project` is a directory inside a git work tree the services accept.
pub(crate) async fn check_project(project: &str) -> Result<PathBuf, Error> {
    let invalid = |problem: String| Error::InvalidProjectPath { path: project.to_owned(), problem };
    let path = Path::new(project);
    if project.is_empty() || !path.is_absolute() {
        return Err(invalid("is not an absolute path: pass the project's absolute path".to_owned()));
    }
    if !path.is_dir() {
        return Err(invalid("is not an existing directory: create it or fix the path".to_owned()));
    }
    let checked = path.to_path_buf();
    match blocking(move || ct_git::work_tree_root(&checked)).await {
        Ok(_) => Ok(path.to_path_buf()),
        Err(Error::Project(GitError::NotARepository { .. })) => Err(invalid(
            "is not inside a git work tree: run `git init` there; the executor reports what the \
             agent changed through git"
                .to_owned(),
        )),
        Err(err) => Err(err),
    }
}

/// A tree id for the whole work tree as it is now.
pub(crate) async fn snapshot(project: &Path) -> Result<String, Error> {
    let project = project.to_path_buf();
    blocking(move || ct_git::work_tree_id(&project)).await
}

/// The files that differ between two snapshots, relative to `project`.
pub(crate) async fn diff(project: &Path, before: &str, after: &str) -> Result<TreeChanges, Error> {
    let (project, before, after) = (project.to_path_buf(), before.to_owned(), after.to_owned());
    blocking(move || ct_git::changes(&project, &before, &after)).await
}

//! Opening a project's repository, refusing states where touching it would lose work.

use std::path::{Path, PathBuf};

use git2::{Index, IndexAddOption, Oid, Repository, RepositoryState};

use crate::error::{GitContext, WorkspaceError, io};

/// A project: the repository holding it and where the project sits in its work tree.
pub(crate) struct Project {
    pub(crate) repo: Repository,
    /// The work tree's root.
    pub(crate) workdir: PathBuf,
    /// The project's directory relative to `workdir` ("" when it is the root).
    pub(crate) prefix: PathBuf,
}

/// Opens the repository whose work tree holds `path`.
pub(crate) fn open(path: &Path) -> Result<Project, WorkspaceError> {
    if !path.exists() {
        return Err(WorkspaceError::MissingPath {
            path: path.to_path_buf(),
        });
    }
    let path = path.canonicalize().map_err(io("resolve", path))?;
    let repo = Repository::discover(&path).map_err(|err| match err.code() {
        git2::ErrorCode::NotFound => WorkspaceError::NotARepository { path: path.clone() },
        _ => WorkspaceError::Git {
            action: "open the repository".to_owned(),
            path: path.clone(),
            source: err,
        },
    })?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| WorkspaceError::Bare { path: path.clone() })?
        .canonicalize()
        .map_err(io("resolve", &path))?;
    let prefix = path
        .strip_prefix(&workdir)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    Ok(Project {
        repo,
        workdir,
        prefix,
    })
}

/// Like [`open`], but refuses a repository in the middle of a merge, rebase and the like:
/// its index holds conflicts and its work tree half-applied changes.
pub(crate) fn open_clean(path: &Path) -> Result<Project, WorkspaceError> {
    let project = open(path)?;
    let (operation, hint) = match project.repo.state() {
        RepositoryState::Clean => return Ok(project),
        RepositoryState::Merge => ("merge", "`git merge --continue` or `git merge --abort`"),
        RepositoryState::Revert | RepositoryState::RevertSequence => {
            ("revert", "`git revert --continue` or `git revert --abort`")
        }
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => (
            "cherry-pick",
            "`git cherry-pick --continue` or `git cherry-pick --abort`",
        ),
        RepositoryState::Bisect => ("bisect", "`git bisect reset`"),
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => {
            ("rebase", "`git rebase --continue` or `git rebase --abort`")
        }
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => {
            ("`git am`", "`git am --continue` or `git am --abort`")
        }
    };
    Err(WorkspaceError::OperationInProgress {
        path: project.workdir,
        operation,
        hint,
    })
}

/// The whole work tree as a tree object, as `git add -A` would stage it: tracked files as
/// they are now, deleted ones gone, untracked ones added, ignored ones left out.
///
/// The repository's own index is never written: the tree is built in a scratch index that
/// starts as a copy of it (so tracked files that match .gitignore stay in, as git keeps
/// them, and unchanged files are not rehashed), attached to a second handle of the
/// repository so no other handle sees it.
pub(crate) fn work_tree_tree(project: &Project) -> Result<Oid, WorkspaceError> {
    let path = &project.workdir;
    let repo = Repository::open(project.repo.path()).git("open the repository", path)?;
    let scratch = tempfile::Builder::new()
        .prefix("ct-snapshot-index-")
        .tempdir()
        .map_err(io("create a scratch directory for", &std::env::temp_dir()))?;
    let scratch_index = scratch.path().join("index");
    let own_index = repo.path().join("index");
    if own_index.exists() {
        std::fs::copy(&own_index, &scratch_index).map_err(io("copy the index", &own_index))?;
    }
    let mut index = Index::open(&scratch_index).git("read a copy of the index", path)?;
    repo.set_index(&mut index)
        .git("use a scratch index", path)?;
    index
        .add_all(["*"], IndexAddOption::DEFAULT, None)
        .git("add the work tree to a scratch index", path)?;
    index
        .update_all(["*"], None)
        .git("drop deleted files from a scratch index", path)?;
    index
        .write_tree()
        .git("write the work tree as a tree", path)
}

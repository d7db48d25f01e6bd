//! A project's git repository as the workflows use it, through libgit2: snapshots of the
//! whole work tree that never move HEAD, a branch or the index; exact restores; feature
//! branches checked out in worktrees of their own; and the conflicts between branches,
//! predicted in memory; and an integration branch the features are merged into, in a
//! worktree of its own.

mod changes;
mod conflicts;
mod control_files;
mod error;
mod integration;
mod nofollow;
mod repo;
mod snapshot;
mod worktree;

pub use changes::{Patch, TreeChanges, changes, patch, work_tree_id, work_tree_root};
pub use conflicts::predict_conflicts;
pub use error::GitError;
pub use integration::{conclude_merge, create_integration_worktree, land, merge_branch, reset_integration};
pub use snapshot::{list, restore, snapshot};
pub use worktree::{commit_worktree, create_worktree, remove_worktree};

/// Checks that `path` is a git work tree a workflow can snapshot: it exists, is in a
/// repository with a work tree, and no merge, rebase or similar is half done.
pub fn check_project(path: &std::path::Path) -> Result<(), GitError> {
    repo::open_clean(path).map(|_| ())
}

/// Checks that every one of `branches` is a local branch of the repository holding `path`.
pub fn check_branches(path: &std::path::Path, branches: &[String]) -> Result<(), GitError> {
    let project = repo::open(path)?;
    for branch in branches {
        repo::branch_tip(&project.repo, branch, &project.workdir)?;
    }
    Ok(())
}

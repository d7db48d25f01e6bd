//! What a run changed in a project: the work tree recorded as a tree object before and after,
//! and the two compared. Nothing of the user's (index, refs, files) is touched, and nothing
//! the repository configures runs (libgit2 has no filter drivers, textconv, external diff or
//! hooks to run).

use std::path::{Path, PathBuf};

use git2::{DiffOptions, Oid};

use crate::error::{GitContext, GitError};
use crate::repo::{self, work_tree_tree};

/// The files that differ between two trees, relative to the project's directory, and the
/// lines added and removed in them (binary files count no lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeChanges {
    pub files: Vec<String>,
    pub lines_added: u64,
    pub lines_removed: u64,
}

/// The root of the work tree holding `project`, once it is found to be a repository the
/// services accept (see `repo::open`).
pub fn work_tree_root(project: &Path) -> Result<PathBuf, GitError> {
    Ok(repo::open(project)?.workdir)
}

/// The id of the whole work tree holding `project` as a tree object, as `git add -A` would
/// stage it (see `repo::work_tree_tree`).
pub fn work_tree_id(project: &Path) -> Result<String, GitError> {
    let project = repo::open(project)?;
    Ok(work_tree_tree(&project)?.to_string())
}

/// What differs between trees `before` and `after` below `project`'s directory.
pub fn changes(project: &Path, before: &str, after: &str) -> Result<TreeChanges, GitError> {
    let project = repo::open(project)?;
    let path = &project.workdir;
    let repo = &project.repo;
    let tree = |id: &str| Oid::from_str(id).and_then(|oid| repo.find_tree(oid)).git(format!("read tree {id}"), path);
    let (before, after) = (tree(before)?, tree(after)?);
    let mut options = DiffOptions::new();
    if !project.prefix.as_os_str().is_empty() {
        options.pathspec(&project.prefix);
    }
    let diff = repo
        .diff_tree_to_tree(Some(&before), Some(&after), Some(&mut options))
        .git("compare the work tree before and after", path)?;
    let stats = diff.stats().git("count changed lines", path)?;
    let files = diff
        .deltas()
        .filter_map(|delta| delta.new_file().path().or(delta.old_file().path()))
        .map(|file| file.strip_prefix(&project.prefix).unwrap_or(file).to_string_lossy().into_owned())
        .collect();
    Ok(TreeChanges { files, lines_added: stats.insertions() as u64, lines_removed: stats.deletions() as u64 })
}

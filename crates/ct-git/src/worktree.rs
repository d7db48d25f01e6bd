//! Feature worktrees: one branch `feature-<i>-<slug>` per feature, made from HEAD and
//! checked out in its own directory outside the user's work tree, so parallel agents
//! never see each other's files and the user's checkout, HEAD and index stay as they are.
//!
//! The directories live in the repository's git directory,
//! `<git-dir>/claude-temporal/worktrees/<workflow>/<i>`: always writable where the
//! repository is, invisible to `git status`, and gone with the repository.

use std::path::{Path, PathBuf};

use ct_domain::git::{FeatureWorktree, branch_name};
use git2::{BranchType, IndexAddOption, Repository, Signature, WorktreeAddOptions};

use crate::error::{GitContext, GitError, io};
use crate::repo;

/// Where feature `index` of `workflow_id` is checked out.
pub(crate) fn worktree_path(repo: &Repository, workflow_id: &str, index: u32) -> PathBuf {
    repo.commondir().join("claude-temporal/worktrees").join(dir_name(workflow_id)).join(index.to_string())
}

fn dir_name(workflow_id: &str) -> String {
    workflow_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// Creates branch `feature-<index>-<slug>` at HEAD and checks it out in a worktree of its
/// own. Calling it again for the same feature returns the worktree made the first time.
pub fn create_worktree(
    project: &Path,
    workflow_id: &str,
    index: u32,
    feature: &str,
) -> Result<FeatureWorktree, GitError> {
    let branch = branch_name(index, feature)?;
    let project = repo::open_clean(project)?;
    let repo = &project.repo;
    let root = &project.workdir;
    let path = worktree_path(repo, workflow_id, index);
    let made = FeatureWorktree {
        index,
        feature: feature.to_owned(),
        branch: branch.clone(),
        path: path.to_string_lossy().into_owned(),
    };
    if existing_worktree(repo, workflow_id, index, &branch).is_some() {
        return Ok(made);
    }
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .git("read the HEAD commit (a feature branch starts there; commit something first)", root)?;
    add_worktree(&project, workflow_id, index, &branch, &head, &path)?;
    Ok(made)
}

/// Makes branch `branch` at `start` (or takes it, when it is there already) and checks it out
/// in a new worktree at `path`, slot `index` of `workflow_id`'s worktrees.
pub(crate) fn add_worktree(
    project: &repo::Project,
    workflow_id: &str,
    index: u32,
    branch: &str,
    start: &git2::Commit<'_>,
    path: &Path,
) -> Result<(), GitError> {
    let repo = &project.repo;
    let root = &project.workdir;
    let branch_ref = match repo.find_branch(branch, BranchType::Local) {
        Ok(existing) if existing.get().target() == Some(start.id()) => existing.into_reference(),
        Ok(_) => {
            return Err(GitError::BranchExists { branch: branch.to_owned(), path: root.clone() });
        }
        Err(_) => repo.branch(branch, start, false).git(format!("create branch {branch}"), root)?.into_reference(),
    };
    // Real directories all the way: a link planted in the git directory is not followed.
    let below_common = Path::new("claude-temporal/worktrees").join(dir_name(workflow_id)).join(index.to_string());
    crate::nofollow::real_parent(repo.commondir(), &below_common).map_err(io("create directory", path))?;
    let mut options = WorktreeAddOptions::new();
    options.reference(Some(&branch_ref));
    repo.worktree(&admin_name(&dir_name(workflow_id), index), path, Some(&options))
        .git(format!("add a worktree for {branch} at {}", path.display()), root)?;
    Ok(())
}

/// The worktree on `branch` at slot `index` of `workflow_id`, when a first call made it.
pub(crate) fn existing_worktree(repo: &Repository, workflow_id: &str, index: u32, branch: &str) -> Option<PathBuf> {
    let path = worktree_path(repo, workflow_id, index);
    if !path.join(".git").exists() {
        return None;
    }
    let existing = Repository::open(&path).ok()?;
    let on = existing.head().ok().and_then(|h| h.shorthand().ok().map(str::to_owned));
    (on.as_deref() == Some(branch)).then_some(path)
}

/// The name git knows the worktree by (`.git/worktrees/<name>`), unique per workflow and feature.
fn admin_name(workflow_dir: &str, index: u32) -> String {
    let base: String = workflow_dir.chars().take(60).collect();
    format!("ct-{base}-{index}")
}

/// Commits everything in the feature worktree at `path` (as `git add -A && git commit`)
/// onto its branch. Returns the new commit, or `None` when nothing changed. Idempotent: when
/// nothing changed and the branch's tip is a commit with this very message (a retry after the
/// first call's answer was lost), that commit is the answer.
pub fn commit_worktree(path: &Path, message: &str) -> Result<Option<String>, GitError> {
    let project = repo::open_clean(path)?;
    let repo = &project.repo;
    let root = &project.workdir;
    let mut index = repo.index().git("read the worktree's index", root)?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None).git("stage the feature's files", root)?;
    index.update_all(["*"], None).git("stage deleted files", root)?;
    index.write().git("write the worktree's index", root)?;
    let tree_id = index.write_tree().git("write the feature's tree", root)?;
    let head = repo.head().and_then(|h| h.peel_to_commit()).git("read the worktree's HEAD", root)?;
    if head.tree_id() == tree_id {
        let made_already = head.message_raw().is_ok_and(|made| made == message);
        return Ok(made_already.then(|| head.id().to_string()));
    }
    let tree = repo.find_tree(tree_id).git("read the feature's tree", root)?;
    let signature = repo
        .signature()
        .or_else(|_| Signature::now("claude-temporal", "claude-temporal@localhost"))
        .git("make a signature", root)?;
    let commit =
        repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &[&head]).git("commit the feature", root)?;
    Ok(Some(commit.to_string()))
}

/// Removes the feature worktree at `path` (its directory and git's record of it). The
/// branch stays, with whatever was committed on it. Removing one that is gone already is
/// not an error; a path that is not where [`create_worktree`] puts worktrees is refused.
pub fn remove_worktree(project: &Path, path: &Path) -> Result<(), GitError> {
    let project = repo::open(project)?;
    let repo = &project.repo;
    let (workflow_dir, index) = check_feature_worktree(repo, path)?;
    // git's record of the worktree, named as `create_worktree` named it, and the work tree:
    // removed here rather than by libgit2's prune, which deletes what files in that record
    // (`gitdir`, `commondir`) name. `remove_dir_all` removes a link in place of a directory,
    // never what it points at.
    let record = repo.commondir().join("worktrees").join(admin_name(&workflow_dir, index));
    for dir in [record.as_path(), path] {
        if dir.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(dir).map_err(io("remove", dir))?;
        }
    }
    // The per-workflow directory goes once its last worktree has.
    if let Some(parent) = path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Refuses any path but `<git-dir>/claude-temporal/worktrees/<workflow>/<i>` itself: the
/// path comes from workflow input, and removing is recursive. Gives the workflow's directory
/// name and `i`.
fn check_feature_worktree(repo: &Repository, path: &Path) -> Result<(String, u32), GitError> {
    let worktrees = repo.commondir().join("claude-temporal/worktrees");
    let worktrees = worktrees.canonicalize().unwrap_or(worktrees);
    let refused = || GitError::NotAFeatureWorktree { path: path.to_path_buf(), root: worktrees.clone() };
    let inside = path
        .strip_prefix(&worktrees)
        .map_err(|_| refused())?
        .components()
        .map(|component| match component {
            std::path::Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(refused)?;
    let [workflow, index] = inside.as_slice() else {
        return Err(refused());
    };
    let index = index.to_str().and_then(|i| i.parse::<u32>().ok());
    let workflow_dir = workflow.to_str().filter(|name| *name == dir_name(name));
    let workflow_dir_is_real = worktrees.join(workflow).symlink_metadata().map_or(true, |meta| meta.is_dir());
    match (workflow_dir, index) {
        (Some(workflow_dir), Some(index)) if workflow_dir_is_real => Ok((workflow_dir.to_owned(), index)),
        _ => Err(refused()),
    }
}

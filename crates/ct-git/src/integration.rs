//! The integration branch: one worktree where feature branches are merged one after the other,
//! conflicts left as markers for an agent to resolve, and a fast-forward of the user's branch.
//!
//! Nothing here runs what a repository configures: libgit2's merges use only its built-in text
//! merge (no merge drivers, filters or hooks), the work tree is written through
//! [`crate::restore`] (no link is followed), and files are read without following links.

use std::path::{Path, PathBuf};

use ct_domain::capped;
use ct_domain::git::{ConcludeOutcome, IntegrationWorktree, MergeOutcome};
use ct_domain::integration::Landing;
use git2::{Commit, IndexEntry, MergeFileOptions, MergeOptions, Oid, Repository, Signature, Status};

use crate::error::{GitContext, GitError};
use crate::repo::{self, Project};
use crate::worktree::{add_worktree, existing_worktree, worktree_path};

/// The integration worktree's slot among a workflow's worktrees (features count from 1).
const INTEGRATION_SLOT: u32 = 0;

/// Files compared for renames per merge (git's own default limit is 1,000).
const RENAME_CANDIDATES: u32 = 200;

/// The most of a conflicted file read when looking for markers left in it.
const MAX_CHECKED_BYTES: u64 = 16 << 20;

/// Creates `branch` at the commit `branches` forked from (the merge base of all of them; with
/// one branch, its merge base with HEAD) and checks it out in a worktree of its own. Calling it again
/// returns the worktree made the first time.
pub fn create_integration_worktree(
    project: &Path,
    workflow_id: &str,
    branch: &str,
    branches: &[String],
) -> Result<IntegrationWorktree, GitError> {
    if !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return Err(GitError::BadBranchName { branch: branch.to_owned() });
    }
    let project = repo::open_clean(project)?;
    let repo = &project.repo;
    let root = &project.workdir;
    let mut tips = Vec::with_capacity(branches.len() + 1);
    for name in branches {
        tips.push(repo::branch_tip(repo, name, root)?.id());
    }
    if tips.len() == 1 {
        let head = repo.head().and_then(|h| h.peel_to_commit()).git("read the HEAD commit", root)?;
        tips.push(head.id());
    }
    let base = repo.merge_base_octopus(&tips).git("find the commit the branches started from", root)?;
    let base = repo.find_commit(base).git("read the branches' merge base", root)?;
    let path = worktree_path(repo, workflow_id, INTEGRATION_SLOT);
    let made = |path: &Path| IntegrationWorktree {
        branch: branch.to_owned(),
        path: path.to_string_lossy().into_owned(),
        base: base.id().to_string(),
    };
    if let Some(existing) = existing_worktree(repo, workflow_id, INTEGRATION_SLOT, branch) {
        return Ok(made(&existing));
    }
    add_worktree(&project, workflow_id, INTEGRATION_SLOT, branch, &base, &path)?;
    Ok(made(&path))
}

/// Merges `branch` into the integration worktree at `worktree`. A clean merge is committed
/// (two parents, `message`) and checked out. A conflicted one is left in the work tree with
/// git's conflict markers in the conflicting files (a file one side deleted holds the other
/// side's content), HEAD unmoved, for [`conclude_merge`] once the conflicts are resolved.
/// Retried after a merge it committed, it answers with that commit.
pub fn merge_branch(worktree: &Path, branch: &str, message: &str) -> Result<MergeOutcome, GitError> {
    let project = repo::open_clean(worktree)?;
    let repo = &project.repo;
    let root = &project.workdir;
    let ours = repo.head().and_then(|h| h.peel_to_commit()).git("read the integration branch", root)?;
    let theirs = repo::branch_tip(repo, branch, root)?;
    let already_in = ours.id() == theirs.id()
        || repo.graph_descendant_of(ours.id(), theirs.id()).git("compare the branches", root)?;
    if already_in {
        // Also what a retry finds once the first call committed: its files are checked out too.
        check_out_head(&project)?;
        return Ok(MergeOutcome::Merged { commit: ours.id().to_string() });
    }
    let mut options = MergeOptions::new();
    options.target_limit(RENAME_CANDIDATES);
    let mut index =
        repo.merge_commits(&ours, &theirs, Some(&options)).git(format!("merge {branch} in memory"), root)?;
    if !index.has_conflicts() {
        let tree = index.write_tree_to(repo).git("write the merged tree", root)?;
        let commit = commit_merge(&project, &ours, &theirs, tree, message)?;
        check_out_head(&project)?;
        return Ok(MergeOutcome::Merged { commit: commit.to_string() });
    }
    let (mut files, unmergeable) = mark_conflicts(repo, &mut index, branch, root)?;
    if !unmergeable.is_empty() {
        return Ok(MergeOutcome::Unmergeable { files: unmergeable });
    }
    let tree = index.write_tree_to(repo).git("write the conflicted tree", root)?;
    crate::restore(root, &tree.to_string())?;
    let files_truncated = capped::keep_paths(&mut files);
    Ok(MergeOutcome::Conflicted { files, files_truncated, tree: tree.to_string(), theirs: theirs.id().to_string() })
}

/// Replaces every conflict of the merge's `index` by one file with git's conflict markers (a
/// file only one side kept: that side's content; added on both sides: merged against an empty
/// file). Gives the conflicting paths, and apart the ones no text merge can show (a binary file
/// or a link on either side), which an agent cannot be asked to resolve.
fn mark_conflicts(
    repo: &Repository,
    index: &mut git2::Index,
    branch: &str,
    root: &Path,
) -> Result<(Vec<String>, Vec<String>), GitError> {
    let conflicts: Vec<_> = index
        .conflicts()
        .git("list the merge's conflicts", root)?
        .collect::<Result<_, _>>()
        .git("read a conflict", root)?;
    let mut files = Vec::new();
    let mut unmergeable = Vec::new();
    for conflict in conflicts {
        let sides = [&conflict.our, &conflict.their, &conflict.ancestor];
        let Some(entry) = sides.iter().find_map(|side| side.as_ref()) else {
            continue;
        };
        let path = String::from_utf8_lossy(&entry.path).into_owned();
        // Every path of the conflict is cleared (a rename names several), so the tree can be
        // written; a path with no conflict left is not an error.
        for side in sides.iter().filter_map(|side| side.as_ref()) {
            let side_path = String::from_utf8_lossy(&side.path).into_owned();
            match index.conflict_remove(Path::new(&side_path)) {
                Err(err) if err.code() != git2::ErrorCode::NotFound => return Err(err).git("clear a conflict", root),
                _ => {}
            }
        }
        let present: Vec<&IndexEntry> = [&conflict.our, &conflict.their].into_iter().flatten().collect();
        if present.iter().any(|side| !is_text(repo, side)) {
            unmergeable.push(path);
            continue;
        }
        let content = match (&conflict.our, &conflict.their) {
            (Some(our), Some(their)) => {
                let ancestor = match &conflict.ancestor {
                    Some(ancestor) => stage_zero(ancestor),
                    None => IndexEntry {
                        id: repo.blob(b"").git("write an empty file", root)?,
                        file_size: 0,
                        ..stage_zero(our)
                    },
                };
                let mut labels = MergeFileOptions::new();
                labels.our_label("HEAD").their_label(branch);
                let merged = repo
                    .merge_file_from_index(&ancestor, our, their, Some(&mut labels))
                    .git(format!("merge {path} with conflict markers"), root)?;
                merged.content().to_vec()
            }
            // Deleted on one side: the side that kept it, for the agent to keep or delete.
            (Some(kept), None) | (None, Some(kept)) => {
                repo.find_blob(kept.id).git("read a conflicting file", root)?.content().to_vec()
            }
            // Gone on both sides (renamed apart): its new paths are conflicts of their own.
            (None, None) => {
                files.push(path);
                continue;
            }
        };
        let mut staged = stage_zero(entry);
        // The merge's index belongs to no repository: the blob is written first, then named.
        staged.id = repo.blob(&content).git("write a file with conflict markers", root)?;
        staged.file_size = u32::try_from(content.len()).unwrap_or(u32::MAX);
        index.add(&staged).git("stage a file with conflict markers", root)?;
        files.push(path);
    }
    files.sort();
    files.dedup();
    unmergeable.sort();
    unmergeable.dedup();
    Ok((files, unmergeable))
}

/// Whether a side of a conflict is a text file a person (or an agent) can merge by reading it:
/// not a link, a submodule, or a binary file.
fn is_text(repo: &Repository, side: &IndexEntry) -> bool {
    let mode = side.mode & 0o170000;
    mode == 0o100000 && repo.find_blob(side.id).is_ok_and(|blob| !blob.is_binary())
}

/// A copy of a conflict's entry as an ordinary (stage 0) one.
fn stage_zero(entry: &IndexEntry) -> IndexEntry {
    IndexEntry {
        ctime: entry.ctime,
        mtime: entry.mtime,
        dev: entry.dev,
        ino: entry.ino,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        file_size: entry.file_size,
        id: entry.id,
        flags: 0,
        flags_extended: 0,
        path: entry.path.clone(),
    }
}

/// Commits the merge of `theirs` the work tree holds once its conflicts were resolved: every
/// file as it is now, with HEAD and `theirs` as parents. Files of `conflicted` that still hold a
/// conflict marker are reported and nothing is committed. Retried after it committed, it
/// answers with that commit.
pub fn conclude_merge(
    worktree: &Path,
    theirs: &str,
    conflicted: &[String],
    message: &str,
) -> Result<ConcludeOutcome, GitError> {
    let project = repo::open_clean(worktree)?;
    let repo = &project.repo;
    let root = &project.workdir;
    let theirs = Oid::from_str(theirs)
        .and_then(|id| repo.find_commit(id))
        .git(format!("read the merged commit {theirs}"), root)?;
    let ours = repo.head().and_then(|h| h.peel_to_commit()).git("read the integration branch", root)?;
    if ours.parent_id(1).ok() == Some(theirs.id()) && ours.message_raw().is_ok_and(|made| made == message) {
        check_out_head(&project)?;
        return Ok(ConcludeOutcome::Committed { commit: ours.id().to_string() });
    }
    let unresolved: Vec<String> =
        conflicted.iter().filter(|file| holds_conflict_marker(root, Path::new(file))).cloned().collect();
    if !unresolved.is_empty() {
        return Ok(ConcludeOutcome::Unresolved { files: unresolved });
    }
    let tree = repo::work_tree_tree(&project)?;
    let commit = commit_merge(&project, &ours, &theirs, tree, message)?;
    check_out_head(&project)?;
    Ok(ConcludeOutcome::Committed { commit: commit.to_string() })
}

/// Whether the file holds a line that starts a conflict (`<<<<<<< `) or ends one
/// (`>>>>>>> `). A file that is gone counts as resolved (the agent removed it); one that cannot
/// be read safely (a link in its place or its path, too big) as unresolved.
fn holds_conflict_marker(root: &Path, relative: &Path) -> bool {
    // Walked part by part: a missing part means the file is gone, a link means it is not read.
    let mut at = root.to_path_buf();
    for part in relative.components() {
        at.push(part);
        match at.symlink_metadata() {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return false,
            Ok(meta) if !meta.file_type().is_symlink() => {}
            _ => return true,
        }
    }
    match ct_confine::bounded::read_file_below(root, relative, MAX_CHECKED_BYTES) {
        Ok(content) => {
            content.split(|&b| b == b'\n').any(|line| line.starts_with(b"<<<<<<< ") || line.starts_with(b">>>>>>> "))
        }
        Err(_) => true,
    }
}

/// Moves the integration branch back to `commit` (an earlier commit of it) and puts the work
/// tree and index there: a feature held back leaves nothing behind.
pub fn reset_integration(worktree: &Path, commit: &str) -> Result<String, GitError> {
    let project = repo::open(worktree)?;
    let repo = &project.repo;
    let root = &project.workdir;
    let target = Oid::from_str(commit)
        .and_then(|id| repo.find_commit(id))
        .git(format!("read the integration branch's commit {commit}"), root)?;
    let head = repo.head().git("read the integration branch", root)?;
    let at = head.peel_to_commit().git("read the integration branch's commit", root)?;
    if at.id() != target.id() {
        if !repo.graph_descendant_of(at.id(), target.id()).git("compare commits", root)? {
            return Err(GitError::NotAnAncestor { commit: commit.to_owned(), path: root.clone() });
        }
        let name = head.name().unwrap_or("HEAD").to_owned();
        repo.reference(&name, target.id(), true, "claude-temporal: hold a feature back")
            .git(format!("move {name} back"), root)?;
    }
    // A conflicted merge leaves the repository clean for libgit2 (no MERGE_HEAD is written),
    // so the work tree goes back the same way in both cases.
    check_out_head(&project)?;
    Ok(target.id().to_string())
}

fn commit_merge(
    project: &Project,
    ours: &Commit<'_>,
    theirs: &Commit<'_>,
    tree: Oid,
    message: &str,
) -> Result<Oid, GitError> {
    let repo = &project.repo;
    let root = &project.workdir;
    let tree = repo.find_tree(tree).git("read the merged tree", root)?;
    let signature = signature(repo, root)?;
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &[ours, theirs]).git("commit the merge", root)
}

fn signature(repo: &Repository, root: &Path) -> Result<Signature<'static>, GitError> {
    repo.signature()
        .or_else(|_| Signature::now("claude-temporal", "claude-temporal@localhost"))
        .git("make a signature", root)
}

/// Makes the work tree and the index what HEAD holds.
fn check_out_head(project: &Project) -> Result<(), GitError> {
    let root = &project.workdir;
    crate::restore(root, "HEAD")?;
    sync_index(&project.repo, root)
}

fn sync_index(repo: &Repository, root: &Path) -> Result<(), GitError> {
    let tree = repo.head().and_then(|h| h.peel_to_tree()).git("read HEAD's tree", root)?;
    let mut index = repo.index().git("read the index", root)?;
    index.read_tree(&tree).git("put HEAD's tree in the index", root)?;
    index.write().git("write the index", root)
}

/// Fast-forwards the branch checked out at `project` to `integration_branch`, only when that
/// branch is still at `base` (where the features started), the work tree has no change of the
/// user's, and no ignored file of the user's is where the integration adds one: files first
/// (written as [`crate::restore`] writes them), then the index, then the branch. When it will
/// not, it says why and how to merge by hand, and touches nothing. A call after one that
/// stopped half way finishes its work.
pub fn land(project: &Path, integration_branch: &str, base: &str) -> Result<Landing, GitError> {
    let opened = repo::open_clean(project)?;
    // The whole work tree, also when the project is a subdirectory of it.
    let project = if opened.prefix.as_os_str().is_empty() { opened } else { repo::open_clean(&opened.workdir)? };
    let repo = &project.repo;
    let root: PathBuf = project.workdir.clone();
    let tip = repo::branch_tip(repo, integration_branch, &root)?;
    let command = format!("git -C {} merge {integration_branch}", shell_word(&root.to_string_lossy()));
    let refused = |reason: String| Ok(Landing::Refused { reason, command: command.clone() });
    let head = match repo.head() {
        Ok(head) if head.is_branch() => head,
        _ => return refused("HEAD is not on a branch".to_owned()),
    };
    let branch = head.shorthand().unwrap_or_default().to_owned();
    let at = head.peel_to_commit().git("read HEAD", &root)?;
    if at.id() == tip.id() {
        return Ok(Landing::Landed { branch, commit: tip.id().to_string() });
    }
    if at.id().to_string() != base {
        return refused(format!(
            "{branch} moved since the features started (it is at {}, they started from {})",
            short(&at.id().to_string()),
            short(base)
        ));
    }
    let base_tree = at.tree().git("read HEAD's tree", &root)?;
    let tip_tree = tip.tree().git("read the integration tree", &root)?;
    let changed = users_changes(repo, &root, &base_tree, &tip_tree)?;
    if !changed.is_empty() {
        return refused(format!("the work tree has uncommitted changes: {}", listed(&changed)));
    }
    let in_the_way = in_the_way(repo, &root, &base_tree, &tip_tree)?;
    if !in_the_way.is_empty() {
        return refused(format!(
            "ignored files of yours are where the integration adds files: {}",
            listed(&in_the_way)
        ));
    }
    crate::restore(&root, &tip.id().to_string())?;
    let name = head.name().unwrap_or("HEAD").to_owned();
    let mut index = repo.index().git("read the index", &root)?;
    index.read_tree(&tip_tree).git("stage the integration tree", &root)?;
    index.write().git("write the index", &root)?;
    repo.reference(&name, tip.id(), true, &format!("claude-temporal: fast-forward to {integration_branch}"))
        .git(format!("fast-forward {branch}"), &root)?;
    Ok(Landing::Landed { branch, commit: tip.id().to_string() })
}

/// The most of a file read to tell whether a landing wrote it.
const MAX_COMPARED_BYTES: u64 = 64 << 20;

/// Paths whose work tree or index differ from HEAD (`base`) other than by a landing's own
/// half-done work (the file as the tip has it; the index as HEAD or the tip has it). Ignored
/// files do not count.
fn users_changes(
    repo: &Repository,
    root: &Path,
    base: &git2::Tree<'_>,
    tip: &git2::Tree<'_>,
) -> Result<Vec<String>, GitError> {
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut options)).git("read the work tree's status", root)?;
    let index = repo.index().git("read the index", root)?;
    let mut changed = Vec::new();
    for entry in statuses.iter().filter(|entry| entry.status() != Status::CURRENT) {
        let Ok(path) = entry.path() else {
            changed.push(String::from_utf8_lossy(entry.path_bytes()).into_owned());
            continue;
        };
        let relative = Path::new(path);
        let in_tip = tip.get_path(relative).ok().map(|e| e.id());
        let in_base = base.get_path(relative).ok().map(|e| e.id());
        let staged = index.get_path(relative, 0).map(|e| e.id);
        let ours = on_disk(root, relative) == in_tip && (staged == in_tip || staged == in_base);
        if !ours {
            changed.push(path.to_owned());
        }
    }
    Ok(changed)
}

/// Paths the tip adds where the work tree has something already (an ignored file or directory,
/// or a file in place of one of its directories) that a landing did not write.
fn in_the_way(
    repo: &Repository,
    root: &Path,
    base: &git2::Tree<'_>,
    tip: &git2::Tree<'_>,
) -> Result<Vec<String>, GitError> {
    let diff = repo.diff_tree_to_tree(Some(base), Some(tip), None).git("compare HEAD with the integration", root)?;
    let mut blocked = Vec::new();
    for delta in diff.deltas().filter(|delta| delta.status() == git2::Delta::Added) {
        let Some(relative) = delta.new_file().path() else { continue };
        let mut at = root.to_path_buf();
        let parts: Vec<_> = relative.components().collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let last = i + 1 == parts.len();
            let blocking = match at.symlink_metadata() {
                Err(_) => false,
                Ok(meta) if !last => !meta.is_dir(),
                Ok(_) => on_disk(root, relative) != Some(delta.new_file().id()),
            };
            if blocking {
                blocked.push(relative.to_string_lossy().into_owned());
                break;
            }
        }
    }
    Ok(blocked)
}

/// The blob id of the regular file (or link) at `relative`, as git would store it; `None` when
/// there is none, or it cannot be read safely.
fn on_disk(root: &Path, relative: &Path) -> Option<Oid> {
    let file = root.join(relative);
    let meta = file.symlink_metadata().ok()?;
    let bytes = if meta.file_type().is_symlink() {
        std::fs::read_link(&file).ok()?.into_os_string().into_encoded_bytes()
    } else {
        ct_confine::bounded::read_file_below(root, relative, MAX_COMPARED_BYTES).ok()?
    };
    Oid::hash_object(git2::ObjectType::Blob, &bytes).ok()
}

/// The first ten of `paths`, and how many more.
fn listed(paths: &[String]) -> String {
    let shown = paths.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    match paths.len() {
        n if n > 10 => format!("{shown} and {} more", n - 10),
        _ => shown,
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.,:@".contains(&b)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

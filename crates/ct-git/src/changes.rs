//! What a run changed in a project: the work tree recorded as a tree object before and after,
//! and the two compared. Nothing of the user's (index, refs, files) is touched, and nothing
//! the repository configures runs (libgit2 has no filter drivers, textconv, external diff or
//! hooks to run).

use std::path::{Path, PathBuf};

use git2::{Diff, DiffOptions, Oid, Repository};

use crate::error::{GitContext, GitError};
use crate::repo::{self, Project, work_tree_tree};

/// The files that differ between two trees, relative to the project's directory, and the
/// lines added and removed in them. Binary files count no lines, nor do files over 4 MiB; a
/// `.gitattributes` only in the work tree (not staged) is not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeChanges {
    pub files: Vec<String>,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// The two trees compared, for a diff of them later ([`patch`]).
    pub before: String,
    pub after: String,
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
    let objects = objects_of(&project)?;
    let diff = diff_trees(&project, &objects, before, after)?;
    let stats = diff.stats().git("count changed lines", &project.workdir)?;
    let files = diff
        .deltas()
        .filter_map(|delta| delta.new_file().path().or(delta.old_file().path()))
        .map(|file| file.strip_prefix(&project.prefix).unwrap_or(file).to_string_lossy().into_owned())
        .collect();
    Ok(TreeChanges {
        files,
        lines_added: stats.insertions() as u64,
        lines_removed: stats.deletions() as u64,
        before: before.to_owned(),
        after: after.to_owned(),
    })
}

/// The largest file diffed line by line; larger ones count as binary (no lines), so one huge
/// blob costs no more than this to compare.
const MAX_DIFFED_FILE_BYTES: i64 = 4 << 20;

/// The diff from tree `before` to tree `after`, limited to the project's directory, over the
/// repository's objects alone: `objects` is the repository opened bare, so libgit2 has no work
/// tree to read `.gitattributes` or anything else from (a file there may be a FIFO or a link).
fn diff_trees<'r>(project: &Project, objects: &'r Repository, before: &str, after: &str) -> Result<Diff<'r>, GitError> {
    let path = &project.workdir;
    let tree = |id: &str| Oid::from_str(id).and_then(|oid| objects.find_tree(oid)).git(format!("read tree {id}"), path);
    let (before, after) = (tree(before)?, tree(after)?);
    let mut options = DiffOptions::new();
    options.max_size(MAX_DIFFED_FILE_BYTES).disable_pathspec_match(true);
    if !project.prefix.as_os_str().is_empty() {
        options.pathspec(&project.prefix);
    }
    objects
        .diff_tree_to_tree(Some(&before), Some(&after), Some(&mut options))
        .git("compare the trees before and after", path)
}

/// `project`'s repository opened bare: its objects (a linked worktree's through its
/// `commondir`) and its own index, whose `.gitattributes` are the only ones read.
fn objects_of(project: &Project) -> Result<Repository, GitError> {
    Repository::open_bare(project.repo.path()).git("open the repository's objects", &project.workdir)
}

/// A diff between two trees as text, cut at a size so a page can show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// Unified diff lines, each ending with a newline; paths relative to the repository's root.
    pub text: String,
    /// The diff went on beyond `text`.
    pub truncated: bool,
}

/// The unified diff between trees `before` and `after` below `project`'s directory, its first
/// `max_bytes` at most (cut at a line). Read from the object database only: no work tree file
/// is opened, so no link in it is followed, and libgit2 runs no textconv or external diff.
/// Files over 4 MiB show as binary.
pub fn patch(project: &Path, before: &str, after: &str, max_bytes: usize) -> Result<Patch, GitError> {
    let project = repo::open(project)?;
    let objects = objects_of(&project)?;
    let diff = diff_trees(&project, &objects, before, after)?;
    let mut patch = Patch::default();
    let printed = diff.print(git2::DiffFormat::Patch, |_, _, line| {
        let origin = match line.origin() {
            origin @ ('+' | '-' | ' ') => Some(origin),
            _ => None,
        };
        let content = String::from_utf8_lossy(line.content());
        // "\ No newline at end of file" comes with the newline the line before lacked, which
        // this text has already added.
        let content = match line.origin() {
            '=' | '>' | '<' => content.trim_start_matches('\n').to_owned().into(),
            _ => content,
        };
        let size = origin.map_or(0, |_| 1) + content.len() + usize::from(!content.ends_with('\n'));
        if patch.text.len() + size > max_bytes {
            patch.truncated = true;
            return false;
        }
        patch.text.extend(origin);
        patch.text.push_str(&content);
        if !content.ends_with('\n') {
            patch.text.push('\n');
        }
        true
    });
    match printed {
        Ok(()) => Ok(patch),
        // The callback stopped the walk at the size cap.
        Err(_) if patch.truncated => Ok(patch),
        Err(err) => Err(err).git("print the diff", &project.workdir),
    }
}

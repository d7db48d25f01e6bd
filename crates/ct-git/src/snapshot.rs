//! Snapshots of a work tree as commits under `refs/claude-temporal/snapshots/<workflow>/<n>`,
//! and restoring a work tree to one of them.
//!
//! HEAD, the branch and the index are never moved or written: a snapshot is a commit whose
//! parent is HEAD (when there is one) and which no branch contains, reachable only from its
//! ref, so `git gc` keeps it and `git log` does not show it.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use ct_domain::capped;
use ct_domain::git::{RestoreReport, SNAPSHOT_REF_ROOT, Snapshot, snapshot_ref, snapshot_ref_component};
use git2::{Delta, DiffOptions, FileMode, Oid, Signature};

use crate::error::{GitContext, GitError, io};
use crate::nofollow;
use crate::repo::{self, Project, work_tree_tree};

/// Records the whole work tree holding `project` as snapshot `number` of `workflow_id`,
/// taken before `stage`. Taking the same number again replaces it, so a retried activity
/// is harmless.
pub fn snapshot(project: &Path, workflow_id: &str, number: u32, stage: &str) -> Result<Snapshot, GitError> {
    let project = repo::open_clean(project)?;
    let path = project.workdir.clone();
    let repo = &project.repo;
    let tree_id = work_tree_tree(&project)?;
    let tree = repo.find_tree(tree_id).git("read the snapshot tree", &path)?;
    let parent = match repo.head() {
        Ok(head) => Some(head.peel_to_commit().git("read the HEAD commit", &path)?),
        Err(err) if err.code() == git2::ErrorCode::UnbornBranch || err.code() == git2::ErrorCode::NotFound => None,
        Err(err) => return Err(err).git("read HEAD", &path),
    };
    // A fixed identity: the user may have none configured, and these commits are ours.
    let signature = Signature::now("claude-temporal", "claude-temporal@localhost").git("make a signature", &path)?;
    let message = format!(
        "claude-temporal snapshot {number} of {workflow_id} before `{stage}`\n\nWorkflow: {workflow_id}\nStage: {stage}\n"
    );
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit =
        repo.commit(None, &signature, &signature, &message, &tree, &parents).git("write the snapshot commit", &path)?;
    let reference = snapshot_ref(workflow_id, number);
    repo.reference(&reference, commit, true, &format!("snapshot before {stage}"))
        .git(format!("create ref {reference}"), &path)?;
    describe(&project, number, &reference)
}

/// Every snapshot of `workflow_id` in the repository holding `project`, oldest first.
pub fn list(project: &Path, workflow_id: &str) -> Result<Vec<Snapshot>, GitError> {
    let project = repo::open(project)?;
    let path = project.workdir.clone();
    let prefix = format!("{SNAPSHOT_REF_ROOT}/{}/", snapshot_ref_component(workflow_id));
    let mut numbered = Vec::new();
    for reference in project.repo.references_glob(&format!("{prefix}*")).git("list snapshot refs", &path)? {
        let reference = reference.git("read a snapshot ref", &path)?;
        let Ok(name) = reference.name() else { continue };
        if let Some(number) = name.strip_prefix(&prefix).and_then(|n| n.parse::<u32>().ok()) {
            numbered.push((number, name.to_owned()));
        }
    }
    numbered.sort();
    numbered.into_iter().map(|(number, reference)| describe(&project, number, &reference)).collect()
}

fn describe(project: &Project, number: u32, reference: &str) -> Result<Snapshot, GitError> {
    let path = &project.workdir;
    let repo = &project.repo;
    let commit = repo
        .find_reference(reference)
        .and_then(|r| r.peel_to_commit())
        .git(format!("read snapshot {reference}"), path)?;
    let stage = commit
        .message()
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Stage: "))
        .unwrap_or_default()
        .to_owned();
    let tree = commit.tree().git("read a snapshot tree", path)?;
    let parent_tree = match commit.parent(0) {
        Ok(parent) => Some(parent.tree().git("read a snapshot's parent tree", path)?),
        Err(_) => None,
    };
    let diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
        .git("diff a snapshot against its parent", path)?;
    let mut files: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or(d.old_file().path()))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let files_truncated = capped::keep_paths(&mut files);
    Ok(Snapshot {
        number,
        reference: reference.to_owned(),
        commit: commit.id().to_string(),
        stage,
        created_unix: commit.time().seconds(),
        files,
        files_truncated,
    })
}

/// Puts the project's files back exactly as snapshot `reference` holds them: files changed
/// or deleted since are written back, files created since are removed, ignored files stay
/// as they are. HEAD, branches and the index are left alone, so what the user had staged
/// stays staged. When the project is a subdirectory of its work tree, only that
/// subdirectory is restored.
pub fn restore(project: &Path, reference: &str) -> Result<RestoreReport, GitError> {
    let project = repo::open_clean(project)?;
    let path = project.workdir.clone();
    let repo = &project.repo;
    // A snapshot ref, a tree id a checkpoint names, or HEAD (a feature worktree's retry starts
    // over from its branch): never a revision expression.
    let is_id = reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_id && reference != "HEAD" && !reference.starts_with(&format!("{SNAPSHOT_REF_ROOT}/")) {
        return Err(GitError::SnapshotNotFound { reference: reference.to_owned(), path });
    }
    let target = repo
        .revparse_single(reference)
        .and_then(|object| object.peel_to_tree())
        .map_err(|_| GitError::SnapshotNotFound { reference: reference.to_owned(), path: path.clone() })?;
    let current = repo.find_tree(work_tree_tree(&project)?).git("read the work tree's tree", &path)?;
    let mut options = DiffOptions::new();
    options.include_typechange(true);
    if !project.prefix.as_os_str().is_empty() {
        options.pathspec(&project.prefix);
    }
    let diff = repo
        .diff_tree_to_tree(Some(&current), Some(&target), Some(&mut options))
        .git("compare the work tree with the snapshot", &path)?;

    let mut report = RestoreReport {
        commit: repo
            .revparse_single(reference)
            .and_then(|object| object.peel_to_commit())
            .map(|commit| commit.id().to_string())
            .unwrap_or_default(),
        ..RestoreReport::default()
    };
    // A tree is only as sound as whoever wrote it: every path must stay in the work tree and
    // out of `.git` before anything is touched.
    for delta in diff.deltas() {
        for entry in [delta.old_file().path(), delta.new_file().path()].into_iter().flatten() {
            if !is_plain_entry(entry) {
                return Err(GitError::UnsafeEntry {
                    reference: reference.to_owned(),
                    entry: entry.display().to_string(),
                });
            }
        }
    }
    let mut writes = Vec::new();
    // Removals first, so that a file can take the place of a directory that held it.
    for delta in diff.deltas() {
        let old = delta.old_file();
        let new = delta.new_file();
        if matches!(delta.status(), Delta::Deleted | Delta::Typechange) {
            let relative = old.path().unwrap_or(Path::new("")).to_path_buf();
            remove_file(&project.workdir, &relative)?;
            if delta.status() == Delta::Deleted {
                listed(&mut report.removed, &mut report.truncated, &relative);
            }
        }
        if matches!(delta.status(), Delta::Added | Delta::Modified | Delta::Typechange) {
            let relative = new.path().unwrap_or(Path::new("")).to_path_buf();
            writes.push((relative, new.id(), new.mode()));
        }
    }
    for (relative, blob, mode) in writes {
        write_file(&project, &relative, blob, mode)?;
        listed(&mut report.written, &mut report.truncated, &relative);
    }
    Ok(report)
}

/// Adds `path` to a restore report's list while it has room; past the cap, marks it truncated.
fn listed(list: &mut Vec<String>, truncated: &mut bool, path: &Path) {
    let path = path.to_string_lossy().into_owned();
    let bytes = list.iter().map(String::len).sum();
    if capped::path_fits(list.len(), bytes, path.len()) {
        list.push(path);
    } else {
        *truncated = true;
    }
}

/// Whether `entry` names something below the work tree and outside any `.git`.
fn is_plain_entry(entry: &Path) -> bool {
    entry.file_name().is_some()
        && entry.components().all(|component| match component {
            std::path::Component::Normal(name) => !name.eq_ignore_ascii_case(".git"),
            _ => false,
        })
}

/// Removes a file created since the snapshot; nothing when a directory on its way is a link
/// (the file the snapshot's diff names cannot be behind one).
fn remove_file(workdir: &Path, relative: &Path) -> Result<(), GitError> {
    if !ct_confine::bounded::parents_are_real(workdir, relative) {
        return Ok(());
    }
    let file = workdir.join(relative);
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io("remove", &file)(err)),
    }
    // Directories the removed files leave empty go too, as they came with those files.
    let mut dir = file.parent();
    while let Some(current) = dir {
        if current == workdir || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
    Ok(())
}

/// Writes one file back as the snapshot holds it. Every directory on the way is made a real
/// one (a link the agent put in place of a directory is removed, not followed) and the file
/// is created anew, so nothing outside the work tree is ever written.
fn write_file(project: &Project, relative: &Path, blob: Oid, mode: FileMode) -> Result<(), GitError> {
    if mode == FileMode::Commit {
        // A submodule's content lives in its own repository.
        return Ok(());
    }
    let content =
        project.repo.find_blob(blob).git(format!("read {} from the snapshot", relative.display()), &project.workdir)?;
    let parent = nofollow::real_parent(&project.workdir, relative)
        .map_err(io("make real directories for", &project.workdir.join(relative)))?;
    let file: PathBuf = parent.join(relative.file_name().unwrap_or_default());
    let previous_mode = std::fs::symlink_metadata(&file).ok().filter(|m| m.is_file()).map(|m| m.permissions().mode());
    match std::fs::symlink_metadata(&file) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&file).map_err(io("replace", &file))?,
        Ok(_) => std::fs::remove_file(&file).map_err(io("replace", &file))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io("replace", &file)(err)),
    }
    if mode == FileMode::Link {
        let target = String::from_utf8_lossy(content.content()).into_owned();
        return std::os::unix::fs::symlink(target, &file).map_err(io("create symlink", &file));
    }
    let mut out = nofollow::create_new(&file).map_err(io("create", &file))?;
    out.write_all(content.content()).map_err(io("write", &file))?;
    let base = previous_mode.unwrap_or_else(|| out.metadata().map(|m| m.permissions().mode()).unwrap_or(0o644));
    let wanted = if mode == FileMode::BlobExecutable { base | ((base & 0o444) >> 2) } else { base & !0o111 };
    out.set_permissions(std::fs::Permissions::from_mode(wanted)).map_err(io("set permissions of", &file))
}

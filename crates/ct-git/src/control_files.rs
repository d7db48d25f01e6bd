//! The files libgit2 reads while it walks a work tree: every `.gitignore` and `.gitattributes`
//! of the directories it enters, `.gitmodules`, and a nested repository's `.git`. libgit2 opens
//! them following links and blocking, and reads them whole: a FIFO there would hang the service,
//! a link to `/dev/zero` or a huge file would exhaust it. Whoever ran in the work tree could have
//! put any of that there, so they are checked first, in the directories libgit2 will walk (those
//! not ignored).

use std::path::{Path, PathBuf};

use git2::Repository;

use crate::error::GitError;

/// Far beyond any real `.gitignore` or `.gitattributes`.
const MAX_CONTROL_FILE: u64 = 1 << 20;

/// Names libgit2 reads in every directory it walks.
const PER_DIRECTORY: [&str; 3] = [".gitignore", ".gitattributes", ".gitmodules"];

/// What a nested repository holds that libgit2 reads when it meets one.
const NESTED_REPOSITORY: [&str; 4] = ["HEAD", "config", "commondir", "packed-refs"];

/// Refuses a work tree where a file libgit2 would read is not a small regular file.
pub(crate) fn check(repo: &Repository, workdir: &Path) -> Result<(), GitError> {
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = workdir.join(&relative);
        for name in PER_DIRECTORY {
            check_file(&dir.join(name), false)?;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // `file_type` does not follow links: a linked directory is not walked, by libgit2 either.
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) || entry.file_name() == ".git" {
                continue;
            }
            let child = relative.join(entry.file_name());
            if repo.is_path_ignored(&child).unwrap_or(false) {
                continue;
            }
            let nested = workdir.join(&child).join(".git");
            match nested.symlink_metadata() {
                Err(_) => pending.push(child),
                Ok(meta) if meta.is_dir() => {
                    for name in NESTED_REPOSITORY {
                        check_file(&nested.join(name), false)?;
                    }
                }
                Ok(_) => check_file(&nested, true)?,
            }
        }
    }
    Ok(())
}

/// A missing file passes (unless `required`); anything but a small regular file does not.
fn check_file(file: &Path, required: bool) -> Result<(), GitError> {
    let refused = |problem: String| GitError::UnsafeControlFile { path: file.to_path_buf(), problem };
    match file.symlink_metadata() {
        Err(_) if !required => Ok(()),
        Err(err) => Err(refused(format!("cannot be inspected ({err})"))),
        Ok(meta) if meta.file_type().is_symlink() => Err(refused("is a symbolic link".to_owned())),
        Ok(meta) if !meta.is_file() => Err(refused("is not a regular file".to_owned())),
        Ok(meta) if meta.len() > MAX_CONTROL_FILE => {
            Err(refused(format!("holds {} bytes, more than the {MAX_CONTROL_FILE} git reads of it here", meta.len())))
        }
        Ok(_) => Ok(()),
    }
}

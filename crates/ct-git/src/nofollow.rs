//! Writing inside a work tree without following links: whoever ran there (an agent) could
//! have replaced any directory by a link to somewhere else, and the services write as a user
//! who can reach much more than the run could. (Reading: `ct_confine::bounded`.)

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

/// Creates `file`, which must not exist: never writes through a link put there.
pub(crate) fn create_new(file: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(file)
}

/// The directories from `root` down to the parent of `relative`, made real: a component that
/// is a link or a file is removed and replaced by a directory, a missing one is created.
/// Returns the parent's path, every part of which is a real directory below `root`.
pub(crate) fn real_parent(root: &Path, relative: &Path) -> io::Result<PathBuf> {
    let mut dir = root.to_path_buf();
    let parent = relative.parent().unwrap_or(Path::new(""));
    for component in parent.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", relative.display()),
            ));
        };
        dir.push(name);
        match dir.symlink_metadata() {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => std::fs::remove_file(&dir)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        std::fs::create_dir(&dir)?;
    }
    Ok(dir)
}

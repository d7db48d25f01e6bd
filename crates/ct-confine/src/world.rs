//! The readable world: Landlock only grants, so "everything except these paths" becomes the
//! siblings of each hidden path and of each of its ancestors, up to `/`.

use std::path::{Path, PathBuf};

/// The paths to grant read access to so that every path is readable except those in `hidden`
/// and what lies beneath them. `hidden` must be absolute and canonical. Symbolic links are not
/// granted themselves (a rule would follow the link and grant its target, perhaps a hidden
/// path); what they point to is readable when its real path is.
pub(crate) fn readable_roots(hidden: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    visit(Path::new("/"), hidden, &mut roots);
    roots
}

fn visit(path: &Path, hidden: &[PathBuf], roots: &mut Vec<PathBuf>) {
    if hidden.iter().any(|h| h == path) {
        return;
    }
    if !hidden.iter().any(|h| h.starts_with(path)) {
        roots.push(path.to_path_buf());
        return;
    }
    // A hidden path lies beneath: grant its ancestors' other entries one by one. An entry that
    // cannot be listed stays unreadable, which errs on the safe side.
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| !t.is_symlink()) {
            visit(&entry.path(), hidden, roots);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_but_the_hidden_paths_is_granted() -> std::io::Result<()> {
        let scratch = tempfile::tempdir()?;
        let base = scratch.path().canonicalize()?;
        for dir in ["state/run-a", "state/run-b", "other"] {
            std::fs::create_dir_all(base.join(dir))?;
        }
        std::fs::write(base.join("file"), "x")?;
        std::os::unix::fs::symlink(base.join("state"), base.join("link-to-state"))?;

        let roots = readable_roots(&[base.join("state")]);
        assert!(roots.contains(&base.join("other")));
        assert!(roots.contains(&base.join("file")));
        assert!(!roots.iter().any(|r| r.starts_with(base.join("state"))), "{roots:?}");
        assert!(!roots.contains(&base.join("link-to-state")));
        assert!(!roots.contains(&base), "an ancestor of a hidden path is never granted whole");
        assert!(roots.contains(&PathBuf::from("/usr")) || !Path::new("/usr").exists());

        assert_eq!(readable_roots(&[]), [PathBuf::from("/")]);
        Ok(())
    }
}

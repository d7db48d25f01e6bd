//! The git directories of the repository a run works in, found by reading files (never by
//! running git, which would execute what the repository configures): they are mounted
//! read-only over the run's writable worktree.

use std::path::{Path, PathBuf};

/// The `.git` entry at or above `dir` (a directory, or a gitfile of a linked worktree), the
/// directory a gitfile points to, and that directory's common directory (`commondir`): every
/// path whose change would change what git does for the user.
pub fn git_dirs(dir: &Path) -> Vec<PathBuf> {
    let Some(dot_git) = dir.ancestors().map(|d| d.join(".git")).find(|p| p.symlink_metadata().is_ok()) else {
        return Vec::new();
    };
    let mut dirs = vec![dot_git.clone()];
    let git_dir = if dot_git.is_file() {
        let Some(pointed) = gitfile_target(&dot_git) else { return dirs };
        dirs.push(pointed.clone());
        pointed
    } else {
        dot_git
    };
    if let Ok(common) = std::fs::read_to_string(git_dir.join("commondir")) {
        let common = git_dir.join(common.trim());
        if let Ok(common) = common.canonicalize() {
            dirs.push(common);
        }
    }
    dirs
}

/// `gitdir: PATH` of a gitfile, relative paths taken from the file's directory.
fn gitfile_target(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    let target = file.parent()?.join(target);
    target.canonicalize().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_worktree_protects_its_gitfile_its_git_dir_and_the_common_dir() -> std::io::Result<()> {
        let scratch = tempfile::tempdir()?;
        let base = scratch.path().canonicalize()?;
        let common = base.join("repo/.git");
        std::fs::create_dir_all(common.join("worktrees/feature"))?;
        std::fs::write(common.join("worktrees/feature/commondir"), "../..\n")?;
        let worktree = base.join("wt");
        std::fs::create_dir_all(worktree.join("src"))?;
        std::fs::write(worktree.join(".git"), format!("gitdir: {}\n", common.join("worktrees/feature").display()))?;

        assert_eq!(
            git_dirs(&worktree.join("src")),
            [worktree.join(".git"), common.join("worktrees/feature"), common.clone()]
        );
        assert_eq!(git_dirs(&base.join("repo")), [common]);
        assert!(git_dirs(Path::new("/")).is_empty() || Path::new("/.git").exists());
        Ok(())
    }
}

//! The git directories of the repository a run works in, found by reading files (never by
//! running git, which would execute what the repository configures): they are mounted
//! read-only over the run's writable worktree.

use std::path::{Path, PathBuf};

/// The `.git` entry at or above `dir` (a directory, or a gitfile of a linked worktree), the
/// directory a gitfile points to, and that directory's common directory: every path whose change
/// would change what git does for the user.
///
/// A run may have planted a `.git` inside a writable worktree, so a pointer is followed only when
/// the repository confirms it: a linked worktree's git directory names this gitfile back (its
/// `gitdir` file) and lies in `<common>/worktrees/`; neither is `/` nor holds `dir`; each looks
/// like a git directory (`HEAD`). A symlinked `.git` is not followed at all.
pub fn git_dirs(dir: &Path) -> Vec<PathBuf> {
    let Some(dot_git) = dir.ancestors().map(|d| d.join(".git")).find(|p| p.symlink_metadata().is_ok()) else {
        return Vec::new();
    };
    let Ok(meta) = dot_git.symlink_metadata() else { return Vec::new() };
    if meta.is_symlink() {
        return Vec::new();
    }
    if meta.is_dir() {
        return vec![dot_git];
    }
    let mut dirs = vec![dot_git.clone()];
    let plausible = |p: &Path| p != Path::new("/") && !dir.starts_with(p) && p.join("HEAD").is_file();
    let Some(git_dir) = gitfile_target(&dot_git).filter(|g| plausible(g)) else { return dirs };
    let names_us_back = std::fs::read_to_string(git_dir.join("gitdir"))
        .ok()
        .and_then(|back| Path::new(back.trim()).canonicalize().ok())
        .is_some_and(|back| dot_git.canonicalize().is_ok_and(|ours| ours == back));
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .and_then(|c| git_dir.join(c.trim()).canonicalize().ok())
        .filter(|c| plausible(c) && git_dir.parent() == Some(&c.join("worktrees")));
    if let (true, Some(common)) = (names_us_back, common) {
        dirs.extend([git_dir, common]);
    }
    dirs
}

/// `gitdir: PATH` of a gitfile, relative paths taken from the file's directory.
fn gitfile_target(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    file.parent()?.join(target).canonicalize().ok()
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
        std::fs::write(common.join("worktrees/feature/HEAD"), "ref: refs/heads/feature\n")?;
        std::fs::write(common.join("HEAD"), "ref: refs/heads/main\n")?;
        let worktree = base.join("wt");
        std::fs::create_dir_all(worktree.join("src"))?;
        std::fs::write(worktree.join(".git"), format!("gitdir: {}\n", common.join("worktrees/feature").display()))?;
        std::fs::write(common.join("worktrees/feature/gitdir"), format!("{}\n", worktree.join(".git").display()))?;

        assert_eq!(
            git_dirs(&worktree.join("src")),
            [worktree.join(".git"), common.join("worktrees/feature"), common.clone()]
        );
        assert_eq!(git_dirs(&base.join("repo")), std::slice::from_ref(&common));

        // Planted by a run: a gitfile whose target does not name it back, or points at `/`.
        let planted = base.join("planted");
        std::fs::create_dir_all(&planted)?;
        std::fs::write(planted.join(".git"), format!("gitdir: {}\n", common.join("worktrees/feature").display()))?;
        assert_eq!(git_dirs(&planted), [planted.join(".git")]);
        std::fs::write(planted.join(".git"), "gitdir: /\n")?;
        assert_eq!(git_dirs(&planted), [planted.join(".git")]);
        std::fs::remove_file(planted.join(".git"))?;
        std::os::unix::fs::symlink("/", planted.join(".git"))?;
        assert!(git_dirs(&planted).is_empty());
        assert!(git_dirs(Path::new("/")).is_empty() || Path::new("/.git").exists());
        Ok(())
    }
}

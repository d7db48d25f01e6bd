//! Real repositories made with the git command line, and ways to look at them byte for byte.
// Each test file uses its own part of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "user")
        .env("GIT_AUTHOR_EMAIL", "user@example.invalid")
        .env("GIT_COMMITTER_NAME", "user")
        .env("GIT_COMMITTER_EMAIL", "user@example.invalid")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn write(root: &Path, relative: &str, content: impl AsRef<[u8]>) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A repository with one commit on `main`.
pub(crate) fn repo() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("ct-git-test-").tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    write(dir.path(), "README.md", "hello\n");
    write(dir.path(), ".gitignore", "*.log\nbuild/\n");
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "initial"]);
    dir
}

/// Every file under `root` except `.git`, with its content (a symlink as `-> target`) and
/// whether it is executable.
pub(crate) fn files(root: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, bool)>) {
        use std::os::unix::fs::PermissionsExt as _;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if relative == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(relative, (format!("-> {}", target.display()).into_bytes(), false));
            } else if meta.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(relative, (std::fs::read(&path).unwrap(), meta.permissions().mode() & 0o111 != 0));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The bytes of what git keeps about the user's checkout: the index, HEAD and every ref
/// outside ours.
pub(crate) fn checkout_state(root: &Path) -> (Vec<u8>, Vec<u8>, String) {
    let git_dir = root.join(".git");
    let refs = git(root, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter(|line| !line.starts_with("refs/claude-temporal/"))
        .collect::<Vec<_>>()
        .join("\n");
    (std::fs::read(git_dir.join("index")).unwrap_or_default(), std::fs::read(git_dir.join("HEAD")).unwrap(), refs)
}

pub(crate) fn dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with(".git") {
            out.extend(dirs(&path));
            out.push(path);
        }
    }
    out
}

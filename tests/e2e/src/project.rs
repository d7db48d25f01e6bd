use std::path::Path;
use std::process::Command;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            if entry.file_name() == "__pycache__" || entry.file_name() == ".pytest_cache" {
                continue;
            }
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A fresh git repository holding a copy of `source`, with one commit.
pub fn git_project(source: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("ct-e2e-project-").tempdir().expect("tempdir");
    git_project_at(source, dir.path());
    dir
}

/// Makes `dir` a git repository holding a copy of `source`, with one commit.
pub fn git_project_at(source: &Path, dir: &Path) {
    copy_dir(source, dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
}

/// What git keeps about a checkout, as bytes: the index file, HEAD, and every ref except
/// the ones claude-temporal adds (snapshots, feature branches).
pub fn checkout_state(dir: &Path) -> (Vec<u8>, Vec<u8>, String) {
    let refs = git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter(|line| !line.starts_with("refs/claude-temporal/") && !line.starts_with("refs/heads/feature-"))
        .collect::<Vec<_>>()
        .join("\n");
    (
        std::fs::read(dir.join(".git/index")).unwrap_or_default(),
        std::fs::read(dir.join(".git/HEAD")).expect("HEAD"),
        refs,
    )
}

/// Every file of the work tree outside `.git` and the caches tests leave, with its content.
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if [".git", "__pycache__", ".pytest_cache"].contains(&name.as_str()) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
                out.insert(relative, std::fs::read(&path).expect("read file"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

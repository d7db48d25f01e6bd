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
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
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
/// the ones claude-temporal adds (snapshots, feature and integration branches).
pub fn checkout_state(dir: &Path) -> (Vec<u8>, Vec<u8>, String) {
    let refs = git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter(|line| {
            !line.starts_with("refs/claude-temporal/")
                && !line.starts_with("refs/heads/feature-")
                && !line.starts_with("refs/heads/integration/")
        })
        .collect::<Vec<_>>()
        .join("\n");
    (
        std::fs::read(dir.join(".git/index")).unwrap_or_default(),
        std::fs::read(dir.join(".git/HEAD")).expect("HEAD"),
        refs,
    )
}

/// Every path below `dir` outside `.git`, caches included: what a run left behind shows here.
pub fn all_paths(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.file_name().is_some_and(|name| name == ".git") {
                continue;
            }
            out.push(path.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned());
            if path.is_dir() && !path.is_symlink() {
                pending.push(path);
            }
        }
    }
    out.sort();
    out
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

/// Plants in the repository at `dir` every program git would run on its own, as an earlier
/// run's agent could have left them: clean/smudge/process filters and a textconv driver for
/// every file (`.gitattributes`, committed on its own so feature worktrees carry it too), an
/// external diff, an fsmonitor, and hooks. Each creates a file in the returned directory when
/// it runs; [`ran`] lists them.
pub fn plant_git_programs(dir: &Path) -> tempfile::TempDir {
    let witness = tempfile::Builder::new().prefix("ct-e2e-witness-").tempdir().expect("tempdir");
    std::fs::write(dir.join(".gitattributes"), "* filter=planted diff=planted\n").expect(".gitattributes");
    git(dir, &["add", ".gitattributes"]);
    git(dir, &["commit", "-q", "-m", "attributes", "--only", ".gitattributes"]);
    let run = |name: &str| format!("sh -c 'touch {}/{name}; cat'", witness.path().display());
    for (key, program) in [
        ("filter.planted.clean", "clean"),
        ("filter.planted.smudge", "smudge"),
        ("filter.planted.process", "process"),
        ("diff.planted.textconv", "textconv"),
        ("diff.external", "external-diff"),
        ("core.fsmonitor", "fsmonitor"),
    ] {
        git(dir, &["config", key, &run(program)]);
    }
    let hooks = dir.join(".git/hooks");
    for hook in ["pre-commit", "post-commit", "post-checkout", "reference-transaction", "post-index-change"] {
        use std::os::unix::fs::PermissionsExt as _;
        let file = hooks.join(hook);
        std::fs::write(&file, format!("#!/bin/sh\ntouch {}/hook-{hook}\n", witness.path().display())).expect("hook");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    witness
}

/// The programs planted by [`plant_git_programs`] that ran.
pub fn ran(witness: &Path) -> Vec<String> {
    std::fs::read_dir(witness)
        .expect("witness directory")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

//! Repositories carrying what an earlier run's agent could have left: every program git
//! would run on its own (filters, textconv, external diff, fsmonitor, hooks), a work tree or
//! git directory redirected elsewhere, links in place of directories. The services run none
//! of it, write nothing outside, and give the same results as on a clean repository.

mod support;

use std::path::Path;

use ct_git::{
    GitError, changes, commit_worktree, create_worktree, patch, remove_worktree, restore, snapshot, work_tree_id,
};
use support::{files, git, repo, write};

/// Plants, in the repository at `root`, every command git runs on its own, each of which
/// would create a file in `witness`.
fn plant_commands(root: &Path, witness: &Path) {
    let run = |name: &str| format!("sh -c 'touch {}/{name}; cat'", witness.display());
    let config = [
        ("filter.evil.clean", run("clean")),
        ("filter.evil.smudge", run("smudge")),
        ("filter.evil.process", run("process")),
        ("diff.evil.textconv", run("textconv")),
        ("diff.external", run("external-diff")),
        ("core.fsmonitor", run("fsmonitor")),
        ("core.sshCommand", run("ssh")),
    ];
    for (key, value) in config {
        git(root, &["config", key, &value]);
    }
    let hooks = root.join(".git/hooks");
    for hook in ["pre-commit", "post-commit", "post-checkout", "reference-transaction", "post-index-change"] {
        write(&hooks, hook, format!("#!/bin/sh\ntouch {}/hook-{hook}\n", witness.display()));
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(hooks.join(hook), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

const ATTRIBUTES: &str = "* filter=evil diff=evil\n";

/// The same files in a clean repository and in one with every command planted.
fn twins() -> (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir) {
    let witness = tempfile::tempdir().unwrap();
    let [clean, hostile] = [repo(), repo()];
    for root in [clean.path(), hostile.path()] {
        write(root, ".gitattributes", ATTRIBUTES);
        write(root, "src/lib.rs", "pub fn one() {}\n");
        git(root, &["add", "-A"]);
        git(root, &["-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "sources"]);
    }
    plant_commands(hostile.path(), witness.path());
    (clean, hostile, witness)
}

fn ran(witness: &Path) -> Vec<String> {
    std::fs::read_dir(witness).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn snapshots_changes_restores_and_worktrees_run_nothing_the_repository_configures() {
    let (clean, hostile, witness) = twins();
    let mut seen = Vec::new();
    for root in [clean.path(), hostile.path()] {
        let before = work_tree_id(root).unwrap();
        write(root, "src/lib.rs", "pub fn one() {}\npub fn two() {}\n");
        write(root, "notes.txt", "new\n");
        let after = work_tree_id(root).unwrap();
        let changed = changes(root, &before, &after).unwrap();
        let diff = patch(root, &before, &after, 1 << 20).unwrap();
        let taken = snapshot(root, "develop-h", 1, "core-implementation").unwrap();
        write(root, "src/lib.rs", "broken\n");
        let restored = restore(root, &taken.reference).unwrap();
        let made = create_worktree(root, "parallel-h", 1, "feature one").unwrap();
        let worktree = Path::new(&made.path);
        write(worktree, "feature.rs", "pub fn feature() {}\n");
        let commit = commit_worktree(worktree, "feature one").unwrap();
        remove_worktree(root, worktree).unwrap();
        seen.push((before, after, changed, diff, taken.commit.len(), restored.written, commit.is_some(), files(root)));
    }
    assert_eq!(ran(witness.path()), Vec::<String>::new(), "a planted command ran");
    assert_eq!(seen[0].2.files, ["notes.txt", "src/lib.rs"]);
    assert_eq!((seen[0].2.lines_added, seen[0].2.lines_removed), (2, 0));
    let diff = &seen[0].3;
    assert!(!diff.truncated);
    for line in ["diff --git a/notes.txt b/notes.txt", "+new", " pub fn one() {}", "+pub fn two() {}"] {
        assert!(diff.text.lines().any(|l| l == line), "`{line}` is not in the diff:\n{}", diff.text);
    }
    assert_eq!(seen[0], seen[1], "the hostile repository gives other results");
}

#[test]
fn a_work_tree_redirected_by_core_worktree_is_refused_and_left_alone() {
    let dir = repo();
    let root = dir.path();
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), "precious.txt", "mine\n");
    git(root, &["config", "core.worktree", &elsewhere.path().display().to_string()]);
    for result in [
        work_tree_id(root).map(drop),
        snapshot(root, "develop-r", 1, "scaffold").map(drop),
        restore(root, "HEAD").map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, GitError::WorkTreeElsewhere { .. }), "{err}");
        assert!(err.to_string().contains("core.worktree"), "{err}");
    }
    assert_eq!(files(elsewhere.path()).len(), 1, "something was written elsewhere");
}

#[test]
fn a_git_file_naming_another_repository_is_refused() {
    let other = repo();
    let project = tempfile::tempdir().unwrap();
    write(project.path(), "main.rs", "fn main() {}\n");
    write(project.path(), ".git", format!("gitdir: {}\n", other.path().join(".git").display()));
    let err = snapshot(project.path(), "develop-g", 1, "scaffold").unwrap_err();
    assert!(matches!(err, GitError::Redirected { .. }), "{err}");
    assert!(
        git(other.path(), &["for-each-ref", "refs/claude-temporal"]).is_empty(),
        "a snapshot landed in the other repository"
    );
    // A `.git` link is refused the same way.
    std::fs::remove_file(project.path().join(".git")).unwrap();
    std::os::unix::fs::symlink(other.path().join(".git"), project.path().join(".git")).unwrap();
    let err = work_tree_id(project.path()).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn a_restore_never_writes_through_a_directory_replaced_by_a_link() {
    let dir = repo();
    let root = dir.path();
    write(root, "src/lib.rs", "pub fn one() {}\n");
    write(root, "build/keep.txt", "ignored, so not in any snapshot\n");
    git(root, &["add", "src"]);
    git(root, &["commit", "-q", "-m", "sources"]);
    let taken = snapshot(root, "develop-l", 1, "scaffold").unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "lib.rs", "outside, must stay\n");
    std::fs::remove_dir_all(root.join("src")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("src")).unwrap();

    let report = restore(root, &taken.reference).unwrap();
    assert_eq!(report.written, ["src/lib.rs"]);
    assert!(root.join("src").symlink_metadata().unwrap().is_dir(), "src is a real directory again");
    assert_eq!(std::fs::read_to_string(root.join("src/lib.rs")).unwrap(), "pub fn one() {}\n");
    assert_eq!(std::fs::read_to_string(outside.path().join("lib.rs")).unwrap(), "outside, must stay\n");
    assert_eq!(files(outside.path()).len(), 1, "something was written outside");
}

#[test]
fn an_index_replaced_by_a_link_is_refused_not_read() {
    let dir = repo();
    let root = dir.path();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "not an index").unwrap();
    std::fs::remove_file(root.join(".git/index")).unwrap();
    std::os::unix::fs::symlink(secret.path(), root.join(".git/index")).unwrap();
    let err = work_tree_id(root).unwrap_err();
    assert!(matches!(err, GitError::UnsafeIndex { .. }), "{err}");
}

#[test]
fn only_the_workflows_feature_worktrees_can_be_removed() {
    let dir = repo();
    let root = dir.path();
    let made = create_worktree(root, "parallel-x", 1, "one").unwrap();
    let bystander = tempfile::tempdir().unwrap();
    write(bystander.path(), "keep.txt", "mine\n");
    let git_dir = root.join(".git").canonicalize().unwrap();
    let worktrees = git_dir.join("claude-temporal/worktrees");
    for refused in [
        bystander.path().to_path_buf(),
        root.to_path_buf(),
        worktrees.clone(),
        worktrees.join("parallel-x"),
        worktrees.join("parallel-x/1/../../../.."),
        worktrees.join("parallel-x/one"),
    ] {
        let err = remove_worktree(root, &refused).unwrap_err();
        assert!(matches!(err, GitError::NotAFeatureWorktree { .. }), "{refused:?}: {err}");
    }
    assert!(bystander.path().join("keep.txt").exists());
    assert!(Path::new(&made.path).join(".git").exists(), "the worktree was touched");
    remove_worktree(root, Path::new(&made.path)).unwrap();
    assert!(!Path::new(&made.path).exists());
}

#[test]
fn a_fifo_or_link_where_git_reads_its_rules_is_refused_without_hanging() {
    let dir = repo();
    let root = dir.path();
    write(root, "sub/code.rs", "fn main() {}\n");
    let status = std::process::Command::new("mkfifo").arg(root.join("sub/.gitignore")).status().unwrap();
    assert!(status.success());
    let (sender, answer) = std::sync::mpsc::channel();
    let path = root.to_path_buf();
    std::thread::spawn(move || sender.send(work_tree_id(&path).map(drop)));
    let err =
        answer.recv_timeout(std::time::Duration::from_secs(20)).expect("the snapshot hung on a FIFO").unwrap_err();
    assert!(matches!(err, GitError::UnsafeControlFile { .. }), "{err}");
    assert!(err.to_string().contains("sub/.gitignore"), "{err}");

    std::fs::remove_file(root.join("sub/.gitignore")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("sub/.gitattributes")).unwrap();
    let err = work_tree_id(root).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // In an ignored directory git never reads it, and neither is it checked.
    std::fs::remove_file(root.join("sub/.gitattributes")).unwrap();
    std::fs::create_dir_all(root.join("build")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(root.join("build/.gitignore")).status().unwrap().success());
    work_tree_id(root).unwrap();
}

#[test]
fn a_git_directory_taking_its_objects_from_elsewhere_is_refused() {
    let dir = repo();
    let other = repo();
    std::fs::write(dir.path().join(".git/commondir"), other.path().join(".git").display().to_string()).unwrap();
    let err = snapshot(dir.path(), "develop-c", 1, "scaffold").unwrap_err();
    assert!(matches!(err, GitError::Redirected { .. }), "{err}");
    assert!(err.to_string().contains("commondir"), "{err}");
    assert!(git(other.path(), &["for-each-ref", "refs/claude-temporal"]).is_empty());
}

#[test]
fn a_restore_takes_only_snapshots_and_never_a_path_out_of_the_work_tree() {
    let dir = repo();
    let root = dir.path();
    let before = files(root);
    let err = restore(root, "HEAD~0").unwrap_err();
    assert!(matches!(err, GitError::SnapshotNotFound { .. }), "{err}");
    // HEAD itself is where a feature worktree's retry starts over.
    write(root, "half-done.txt", "an attempt's leftovers\n");
    assert_eq!(restore(root, "HEAD").unwrap().removed, ["half-done.txt"]);
    // A tree whose entry is `..`, written by hand as a hostile history could hold it.
    let repository = git2::Repository::open(root).unwrap();
    let blob = repository.blob(b"planted\n").unwrap();
    let mut raw = b"100644 ..\0".to_vec();
    raw.extend_from_slice(blob.as_bytes());
    let tree = repository.odb().unwrap().write(git2::ObjectType::Tree, &raw).unwrap();
    let err = restore(root, &tree.to_string()).unwrap_err();
    assert!(matches!(err, GitError::UnsafeEntry { .. }), "{err}");
    assert_eq!(files(root), before, "the work tree was touched");
}

#[test]
fn removing_a_worktree_deletes_nothing_a_planted_record_names() {
    let dir = repo();
    let root = dir.path();
    let made = create_worktree(root, "parallel-p", 1, "one").unwrap();
    let victim = tempfile::tempdir().unwrap();
    write(victim.path(), "worktrees/ct-parallel-p-1/keep.txt", "mine\n");
    let record = root.join(".git/worktrees/ct-parallel-p-1");
    std::fs::write(record.join("commondir"), victim.path().display().to_string()).unwrap();
    write(&root.join(".git/worktrees"), "planted/gitdir", format!("{}/.git\n", made.path));
    write(&root.join(".git/worktrees"), "planted/commondir", victim.path().display().to_string());
    write(&root.join(".git/worktrees"), "planted/HEAD", "ref: refs/heads/main\n");
    remove_worktree(root, Path::new(&made.path)).unwrap();
    assert!(!Path::new(&made.path).exists() && !record.exists());
    assert!(
        victim.path().join("worktrees/ct-parallel-p-1/keep.txt").exists(),
        "a planted record chose what was deleted"
    );
}

#[test]
fn a_diff_shows_a_link_as_its_target_and_stops_at_its_size() {
    let root = repo();
    let root = root.path();
    write(root, "a.txt", "one\n");
    let before = work_tree_id(root).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("secrets")).unwrap();
    write(root, "a.txt", "many lines of text\n".repeat(1000));
    write(root, "b.txt", "no newline");
    let after = work_tree_id(root).unwrap();

    let whole = patch(root, &before, &after, 1 << 20).unwrap();
    assert!(whole.text.contains("+/etc/passwd"), "the link is its target:\n{}", whole.text);
    assert!(!whole.text.contains("root:"), "the linked file was read");
    assert!(!whole.truncated);
    assert!(whole.text.contains("+no newline\n\\ No newline at end of file\n"), "{}", whole.text);

    let cut = patch(root, &before, &after, 2_000).unwrap();
    assert!(cut.truncated && cut.text.len() <= 2_000 && cut.text.ends_with('\n'), "{} bytes", cut.text.len());
    assert!(whole.text.starts_with(&cut.text), "the cut diff is the whole one's start");

    let unknown = "0123456789012345678901234567890123456789";
    assert!(patch(root, unknown, &after, 1 << 20).is_err(), "a tree git no longer has is an error");
}

#[test]
fn a_project_in_a_subdirectory_sees_only_its_own_changes() {
    let root = repo();
    let root = root.path();
    write(root, "app/a.txt", "one\n");
    write(root, "other.txt", "x\n");
    let app = root.join("app");
    let before = work_tree_id(&app).unwrap();
    write(root, "app/a.txt", "two\n");
    write(root, "other.txt", "y\n");
    let after = work_tree_id(&app).unwrap();

    assert_eq!(changes(&app, &before, &after).unwrap().files, ["a.txt"]);
    let diff = patch(&app, &before, &after, 1 << 20).unwrap();
    assert!(diff.text.contains("+two") && !diff.text.contains("other.txt"), "{}", diff.text);
}

#[test]
fn a_huge_file_diffs_as_binary_and_one_endless_line_is_cut() {
    let root = repo();
    let root = root.path();
    let before = work_tree_id(root).unwrap();
    write(root, "huge.txt", "x\n".repeat(3 << 20));
    write(root, "endless.txt", "y".repeat(3 << 20));
    let after = work_tree_id(root).unwrap();

    let cut = patch(root, &before, &after, 64 * 1024).unwrap();
    assert!(cut.truncated && cut.text.len() <= 64 * 1024, "{} bytes", cut.text.len());
    let whole = patch(root, &before, &after, 16 << 20).unwrap();
    assert!(whole.text.contains("Binary files /dev/null and b/huge.txt differ"), "{}", &whole.text[..200]);
    assert!(!whole.text.contains("+x\n"), "a file over 4 MiB is diffed line by line");
}

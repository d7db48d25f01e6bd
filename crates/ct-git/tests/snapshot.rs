//! Snapshot and restore on real repositories: the work tree comes back exactly, and the
//! user's index, HEAD and branches are the same bytes before and after.

mod support;

use std::os::unix::fs::PermissionsExt as _;

use ct_domain::git::snapshot_ref;
use ct_git::{GitError, list, restore, snapshot};
use support::{checkout_state, dirs, files, git, repo, write};

/// Bytes that are not valid UTF-8, with NULs: a binary file.
const BINARY: &[u8] = &[0, 159, 146, 150, 0, 255, 1, 2, 3];

#[test]
fn restore_brings_back_every_kind_of_file_and_leaves_ignored_ones() {
    let dir = repo();
    let root = dir.path();
    write(root, "src/deep/nested/mod.rs", "fn tracked() {}\n");
    write(root, "logo.bin", BINARY);
    write(root, "to-delete.txt", "tracked, will be deleted\n");
    write(root, "run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("README.md", root.join("link.md")).unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "more files"]);
    // The user's own uncommitted work: a staged change, an unstaged change, a deletion,
    // an untracked file, and an ignored one.
    write(root, "README.md", "hello, staged\n");
    git(root, &["add", "README.md"]);
    write(root, "src/deep/nested/mod.rs", "fn tracked() { /* unstaged */ }\n");
    std::fs::remove_file(root.join("to-delete.txt")).unwrap();
    write(root, "notes/untracked.txt", "mine, not committed\n");
    write(root, "debug.log", "ignored before\n");

    let checkout_before = checkout_state(root);
    let taken = snapshot(root, "develop-1", 1, "core-implementation").unwrap();
    assert_eq!(checkout_state(root), checkout_before, "taking a snapshot writes nothing of the user's");
    let snapshot_files = files(root);
    assert_eq!(taken.reference, "refs/claude-temporal/snapshots/develop-1/1");
    assert_eq!(taken.stage, "core-implementation");
    assert_eq!(
        taken.files,
        ["README.md", "notes/untracked.txt", "src/deep/nested/mod.rs", "to-delete.txt"],
        "the files that differ from HEAD, ignored ones left out"
    );

    // What an agent might do afterwards.
    write(root, "README.md", "rewritten\n");
    write(root, "logo.bin", b"not binary any more");
    std::fs::remove_file(root.join("notes/untracked.txt")).unwrap();
    std::fs::remove_file(root.join("run.sh")).unwrap();
    std::fs::remove_file(root.join("link.md")).unwrap();
    write(root, "link.md", "a file where a symlink was\n");
    write(root, "to-delete.txt", "came back in another form\n");
    write(root, "new/dir/created.py", "print('new')\n");
    write(root, "src/deep/nested/extra.rs", "// new\n");
    write(root, "debug.log", "ignored, changed after\n");
    write(root, "build/out.o", BINARY);
    git(root, &["add", "new/dir/created.py"]);
    let checkout_mid = checkout_state(root);

    let report = restore(root, &taken.reference).unwrap();

    let mut expected = snapshot_files.clone();
    expected.insert("debug.log".into(), (b"ignored, changed after\n".to_vec(), false));
    expected.insert("build/out.o".into(), (BINARY.to_vec(), false));
    assert_eq!(files(root), expected, "the work tree is the snapshot's, ignored files as they were");
    assert!(!root.join("new").exists(), "directories created after the snapshot are gone");
    assert!(root.join("notes").is_dir());
    assert_eq!(
        checkout_state(root),
        checkout_mid,
        "restoring writes nothing of git's: the index is as the user left it"
    );
    assert!(report.removed.contains(&"new/dir/created.py".to_owned()), "{report:?}");
    assert!(report.removed.contains(&"to-delete.txt".to_owned()), "{report:?}");
    assert!(report.written.contains(&"run.sh".to_owned()), "{report:?}");
    assert_eq!(
        std::fs::read_link(root.join("link.md")).unwrap().to_str(),
        Some("README.md"),
        "the symlink is a symlink again"
    );
    assert!(std::fs::metadata(root.join("run.sh")).unwrap().permissions().mode() & 0o100 != 0);
    // git agrees: nothing differs from the state the snapshot recorded.
    let status = git(root, &["status", "--porcelain"]);
    assert!(status.contains("M  README.md") || status.contains("MM README.md"), "{status}");
    assert!(status.contains("?? notes/"), "{status}");
}

#[test]
fn restoring_an_unchanged_tree_changes_nothing() {
    let dir = repo();
    write(dir.path(), "untracked.txt", "x");
    let taken = snapshot(dir.path(), "wf", 1, "s").unwrap();
    let before = files(dir.path());
    let report = restore(dir.path(), &taken.reference).unwrap();
    assert!(report.written.is_empty() && report.removed.is_empty(), "{report:?}");
    assert_eq!(report.commit, taken.commit, "the report names the commit put back");
    assert_eq!(files(dir.path()), before);
}

#[test]
fn snapshots_list_in_number_order_with_stage_time_and_files() {
    let dir = repo();
    let root = dir.path();
    for (number, stage) in [(2, "streaming"), (10, "testing"), (1, "core")] {
        write(root, &format!("{stage}.txt"), stage);
        snapshot(root, "develop/with spaces:odd", number, stage).unwrap();
    }
    snapshot(root, "another-workflow", 1, "other").unwrap();
    let listed = list(root, "develop/with spaces:odd").unwrap();
    let summary: Vec<(u32, &str)> = listed.iter().map(|s| (s.number, s.stage.as_str())).collect();
    assert_eq!(summary, [(1, "core"), (2, "streaming"), (10, "testing")]);
    assert_eq!(listed[1].files, ["streaming.txt"], "taken first, when only its own file existed");
    assert_eq!(listed[1].reference, snapshot_ref("develop/with spaces:odd", 2));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - listed[0].created_unix).abs() < 60);
    assert!(list(root, "never-ran").unwrap().is_empty());
    // Refs sort by name in git; ours are numbered, so `git log` is not needed to find them.
    assert!(git(root, &["for-each-ref", "refs/claude-temporal/"]).contains("snapshots/develop-with-spaces-odd/10"));
}

/// A tree with more changed files than a report lists still snapshots and restores whole; the
/// reports list the first ones and say the list was cut.
#[test]
fn reports_of_a_huge_change_list_the_first_files_and_say_so() {
    let dir = repo();
    let root = dir.path();
    let over = ct_domain::capped::MAX_LISTED_PATHS + 5;
    let taken = snapshot(root, "wf", 1, "before").unwrap();
    for n in 0..over {
        write(root, &format!("generated/{n:04}.txt"), "x");
    }
    let big = snapshot(root, "wf", 2, "after").unwrap();
    assert_eq!((big.files.len(), big.files_truncated), (ct_domain::capped::MAX_LISTED_PATHS, true));
    assert!(!taken.files_truncated);

    let report = restore(root, &taken.reference).unwrap();
    assert_eq!((report.removed.len(), report.truncated), (ct_domain::capped::MAX_LISTED_PATHS, true));
    assert!(!root.join("generated").exists(), "every file went, listed or not");
    let back = restore(root, &big.reference).unwrap();
    assert!(back.truncated);
    assert_eq!(std::fs::read_dir(root.join("generated")).unwrap().count(), over);
}

#[test]
fn taking_a_number_again_replaces_it() {
    let dir = repo();
    write(dir.path(), "a.txt", "first");
    let first = snapshot(dir.path(), "wf", 1, "s").unwrap();
    write(dir.path(), "a.txt", "second");
    let second = snapshot(dir.path(), "wf", 1, "s").unwrap();
    assert_ne!(first.commit, second.commit);
    assert_eq!(list(dir.path(), "wf").unwrap(), [second]);
}

#[test]
fn a_repository_without_commits_can_be_snapshotted_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    write(dir.path(), "first.txt", "before any commit");
    let taken = snapshot(dir.path(), "wf", 1, "s").unwrap();
    assert_eq!(taken.files, ["first.txt"]);
    write(dir.path(), "second.txt", "later");
    restore(dir.path(), &taken.reference).unwrap();
    assert_eq!(files(dir.path()).keys().collect::<Vec<_>>(), ["first.txt"]);
    assert!(git(dir.path(), &["status", "--porcelain"]).contains("?? first.txt"));
}

#[test]
fn a_project_in_a_subdirectory_restores_only_that_subdirectory() {
    let dir = repo();
    let root = dir.path();
    write(root, "app/main.py", "v1");
    let taken = snapshot(&root.join("app"), "wf", 1, "s").unwrap();
    write(root, "app/main.py", "v2");
    write(root, "app/new.py", "new");
    write(root, "elsewhere.txt", "the user's, outside the project");
    restore(&root.join("app"), &taken.reference).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("app/main.py")).unwrap(), "v1");
    assert!(!root.join("app/new.py").exists());
    assert!(root.join("elsewhere.txt").exists(), "outside the project nothing is touched");
}

#[test]
fn missing_path_is_refused() {
    let err = snapshot(std::path::Path::new("/nonexistent/project"), "wf", 1, "s").unwrap_err();
    assert!(matches!(err, GitError::MissingPath { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/project does not exist"), "{err}");
}

#[test]
fn a_directory_outside_any_repository_gets_a_git_init_hint() {
    let dir = tempfile::tempdir().unwrap();
    let err = snapshot(dir.path(), "wf", 1, "s").unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err}");
    assert!(err.to_string().contains("git init"), "{err}");
}

#[test]
fn a_repository_in_the_middle_of_a_merge_is_refused_with_how_to_finish() {
    let dir = repo();
    let root = dir.path();
    git(root, &["checkout", "-q", "-b", "other"]);
    write(root, "README.md", "other side\n");
    git(root, &["commit", "-q", "-am", "other"]);
    git(root, &["checkout", "-q", "main"]);
    write(root, "README.md", "main side\n");
    git(root, &["commit", "-q", "-am", "main"]);
    let merge =
        std::process::Command::new("git").args(["-C", root.to_str().unwrap(), "merge", "other"]).output().unwrap();
    assert!(!merge.status.success(), "the merge conflicts");
    let before = (checkout_state(root), files(root));

    let err = snapshot(root, "wf", 1, "s").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, GitError::OperationInProgress { operation: "merge", .. }), "{message}");
    assert!(message.contains("git merge --continue") && message.contains("git merge --abort"), "{message}");
    assert!(restore(root, "HEAD").is_err());
    assert_eq!((checkout_state(root), files(root)), before, "a refused call changes nothing");
}

#[test]
fn an_unknown_snapshot_is_named_in_the_error() {
    let dir = repo();
    let err = restore(dir.path(), "refs/claude-temporal/snapshots/wf/9").unwrap_err();
    assert!(err.to_string().contains("snapshot `refs/claude-temporal/snapshots/wf/9` does not exist"), "{err}");
}

#[test]
fn restore_removes_only_directories_it_emptied() {
    let dir = repo();
    let root = dir.path();
    std::fs::create_dir_all(root.join("empty-before")).unwrap();
    let taken = snapshot(root, "wf", 1, "s").unwrap();
    write(root, "made/later/file.txt", "x");
    write(root, "made/later/ignored.log", "kept");
    restore(root, &taken.reference).unwrap();
    assert!(root.join("empty-before").is_dir(), "an empty directory git never saw is left");
    assert!(root.join("made/later/ignored.log").exists(), "an ignored file keeps its directory");
    assert!(!root.join("made/later/file.txt").exists());
    assert!(dirs(root).iter().all(|d| d.exists()));
}

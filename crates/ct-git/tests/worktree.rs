//! Feature worktrees on real repositories: branches from HEAD with valid names, each in
//! its own directory outside the user's work tree, which stays byte-identical.

mod support;

use std::path::Path;

use ct_git::{GitError, commit_worktree, create_worktree, remove_worktree};
use support::{checkout_state, files, git, repo, write};

#[test]
fn each_feature_gets_its_own_worktree_and_branch_and_the_checkout_stays_as_it_was() {
    let dir = repo();
    let root = dir.path();
    write(root, "uncommitted.txt", "the user's work in progress");
    write(root, "README.md", "staged edit\n");
    git(root, &["add", "README.md"]);
    let before = (checkout_state(root), files(root));
    let head = git(root, &["rev-parse", "HEAD"]);

    let one = create_worktree(root, "parallel-1", 1, "word counts").unwrap();
    let two = create_worktree(root, "parallel-1", 2, "line counts").unwrap();
    assert_eq!(one.branch, "feature-1-word-counts");
    let one_path = Path::new(&one.path);
    assert!(!one_path.starts_with(root) || one_path.starts_with(root.join(".git")), "{}", one.path);
    assert_eq!(
        std::fs::read_to_string(one_path.join("README.md")).unwrap(),
        "hello\n",
        "a worktree holds HEAD, not the user's uncommitted edits"
    );
    assert!(!one_path.join("uncommitted.txt").exists());
    assert_eq!(create_worktree(root, "parallel-1", 1, "word counts").unwrap(), one, "a retry gets the same worktree");

    write(one_path, "words.py", "def words(): ...\n");
    write(Path::new(&two.path), "lines.py", "def lines(): ...\n");
    let commit = commit_worktree(one_path, "Add word counts").unwrap();
    assert!(commit.is_some());
    assert_eq!(commit_worktree(one_path, "nothing new").unwrap(), None);
    // A retry whose first answer was lost finds the commit it made.
    assert_eq!(commit_worktree(one_path, "Add word counts").unwrap(), commit);
    assert_eq!(git(root, &["rev-list", "--count", "main..feature-1-word-counts"]), "1\n", "and makes no second one");
    commit_worktree(Path::new(&two.path), "Add line counts").unwrap();

    assert_eq!(git(root, &["diff", "--name-only", "main", "feature-1-word-counts"]), "words.py\n");
    assert_eq!(git(root, &["diff", "--name-only", "main", "feature-2-line-counts"]), "lines.py\n");
    assert_eq!(git(root, &["rev-parse", "feature-1-word-counts~1"]), head);

    remove_worktree(root, one_path).unwrap();
    remove_worktree(root, Path::new(&two.path)).unwrap();
    remove_worktree(root, one_path).unwrap();
    assert!(!one_path.exists() && !Path::new(&two.path).exists());
    assert!(!git(root, &["worktree", "list"]).contains("feature-"), "git forgot the worktrees");
    assert!(git(root, &["branch", "--list", "feature-*"]).contains("feature-1-word-counts"), "branches stay");

    let (mut state_after, files_after) = (checkout_state(root), files(root));
    let branch_refs = |refs: &str| -> String {
        refs.lines().filter(|l| !l.starts_with("refs/heads/feature-")).collect::<Vec<_>>().join("\n")
    };
    state_after.2 = branch_refs(&state_after.2);
    let mut expected = before.0.clone();
    expected.2 = branch_refs(&expected.2);
    assert_eq!((state_after, files_after), (expected, before.1), "index, HEAD, refs and files untouched");
}

#[test]
fn a_branch_left_from_an_earlier_run_is_not_reused_when_it_moved_on() {
    let dir = repo();
    let root = dir.path();
    git(root, &["branch", "feature-1-x"]);
    // Pointing at HEAD: reused.
    let made = create_worktree(root, "wf-a", 1, "x").unwrap();
    commit_worktree(Path::new(&made.path), "work").unwrap_or_else(|e| panic!("{e}"));
    write(Path::new(&made.path), "more.txt", "x");
    commit_worktree(Path::new(&made.path), "more").unwrap();
    remove_worktree(root, Path::new(&made.path)).unwrap();
    let err = create_worktree(root, "wf-b", 1, "x").unwrap_err();
    assert!(matches!(err, GitError::BranchExists { .. }), "{err}");
    assert!(err.to_string().contains("git branch -D feature-1-x"), "{err}");
}

#[test]
fn worktrees_need_a_commit_to_start_from() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let err = create_worktree(dir.path(), "wf", 1, "x").unwrap_err();
    assert!(err.to_string().contains("commit something first"), "{err}");
}

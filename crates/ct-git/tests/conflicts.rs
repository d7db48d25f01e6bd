//! Predicted conflicts between feature branches on real repositories: the pairs that would
//! conflict and their files, from in-memory merges that leave every work tree, the index and
//! HEAD as they were.

mod support;

use std::path::Path;

use ct_git::{commit_worktree, create_worktree, predict_conflicts};
use support::{checkout_state, files, git, repo, write};

#[test]
fn the_pairs_that_edit_the_same_lines_are_predicted_with_their_files() {
    let dir = repo();
    let root = dir.path();
    write(root, "shared.py", "def greet():\n    return 'hello'\n");
    git(root, &["add", "shared.py"]);
    git(root, &["commit", "-qm", "shared"]);
    let features = ["polite greeting", "loud greeting", "new module"];
    let worktrees: Vec<_> =
        features.iter().enumerate().map(|(i, f)| create_worktree(root, "wf", i as u32 + 1, f).unwrap()).collect();
    write(Path::new(&worktrees[0].path), "shared.py", "def greet():\n    return 'good day'\n");
    write(Path::new(&worktrees[1].path), "shared.py", "def greet():\n    return 'HELLO'\n");
    write(Path::new(&worktrees[2].path), "other.py", "def other():\n    return 1\n");
    for worktree in &worktrees {
        commit_worktree(Path::new(&worktree.path), "feature").unwrap();
    }
    let before = (checkout_state(root), files(root));
    let trees: Vec<_> = worktrees.iter().map(|w| files(Path::new(&w.path))).collect();

    let branches: Vec<String> = worktrees.iter().map(|w| w.branch.clone()).collect();
    let predicted = predict_conflicts(root, &branches).unwrap();
    assert_eq!(predicted.len(), 1, "{predicted:?}");
    assert_eq!(
        (predicted[0].first.as_str(), predicted[0].second.as_str()),
        (branches[0].as_str(), branches[1].as_str())
    );
    assert_eq!(predicted[0].files, ["shared.py"]);
    assert!(!predicted[0].files_truncated);

    assert_eq!((checkout_state(root), files(root)), before, "the user's checkout is as it was");
    let after: Vec<_> = worktrees.iter().map(|w| files(Path::new(&w.path))).collect();
    assert_eq!(after, trees, "no worktree was touched");
}

#[test]
fn an_unknown_branch_is_named_in_the_error() {
    let dir = repo();
    let err = predict_conflicts(dir.path(), &["feature-9-missing".to_owned()]).unwrap_err();
    assert!(err.to_string().contains("feature-9-missing"), "{err}");
}

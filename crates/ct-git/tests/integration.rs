//! The integration branch on real repositories: clean merges committed with both parents, a
//! conflict left as markers and concluded once resolved (refused while a marker is left), a
//! feature held back leaving nothing, and `land` fast-forwarding only an unmoved, clean checkout.

mod support;

use std::path::Path;

use ct_domain::git::{ConcludeOutcome, MergeOutcome};
use ct_domain::integration::Landing;
use ct_git::{
    commit_worktree, conclude_merge, create_integration_worktree, create_worktree, land, merge_branch,
    reset_integration,
};
use support::{checkout_state, files, git, repo, write};

/// A repository with `shared.py` and three feature branches: two edit `shared.py`'s same line
/// differently, the third adds a file. Gives the branches.
fn three_features(root: &Path) -> Vec<String> {
    write(root, "shared.py", "def greet():\n    return 'hello'\n");
    git(root, &["add", "shared.py"]);
    git(root, &["commit", "-qm", "shared"]);
    let edits = [
        ("shared.py", "def greet():\n    return 'good day'\n"),
        ("shared.py", "def greet():\n    return 'HELLO'\n"),
        ("other.py", "X = 1\n"),
    ];
    edits
        .iter()
        .enumerate()
        .map(|(i, (file, content))| {
            let worktree = create_worktree(root, "wf", i as u32 + 1, &format!("feature {i}")).unwrap();
            write(Path::new(&worktree.path), file, content);
            commit_worktree(Path::new(&worktree.path), "feature").unwrap();
            worktree.branch
        })
        .collect()
}

/// The user's index, HEAD and refs, the integration branch (which moves) left out.
fn user_state(root: &Path) -> (Vec<u8>, Vec<u8>, String) {
    let (index, head, refs) = checkout_state(root);
    let refs = refs.lines().filter(|line| !line.starts_with("refs/heads/integration/")).collect::<Vec<_>>().join("\n");
    (index, head, refs)
}

fn head(path: &Path) -> String {
    git(path, &["rev-parse", "HEAD"]).trim().to_owned()
}

#[test]
fn branches_merge_one_after_the_other_and_a_conflict_is_concluded_once_resolved() {
    let dir = repo();
    let root = dir.path();
    let branches = three_features(root);
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let user = (user_state(root), files(root));
    let again = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    assert_eq!(again, worktree, "a retried creation answers with the first");
    assert_eq!(worktree.base, head(root));
    let path = Path::new(&worktree.path);

    let first = merge_branch(path, &branches[0], "merge 0").unwrap();
    let MergeOutcome::Merged { commit } = first else { panic!("{first:?}") };
    assert_eq!(head(path), commit);
    assert_eq!(git(path, &["rev-list", "--parents", "-n1", "HEAD"]).split_whitespace().count(), 3, "two parents");
    assert_eq!(std::fs::read_to_string(path.join("shared.py")).unwrap(), "def greet():\n    return 'good day'\n");
    assert!(git(path, &["status", "--porcelain"]).trim().is_empty(), "work tree and index are the merge");

    let second = merge_branch(path, &branches[1], "merge 1").unwrap();
    let MergeOutcome::Conflicted { files: conflicted, theirs, .. } = second else { panic!("{second:?}") };
    assert_eq!(conflicted, ["shared.py"]);
    assert_eq!(head(path), commit, "HEAD waits for the conflict to be resolved");
    let marked = std::fs::read_to_string(path.join("shared.py")).unwrap();
    assert!(marked.contains("<<<<<<< HEAD") && marked.contains(&format!(">>>>>>> {}", branches[1])), "{marked}");

    let refused = conclude_merge(path, &theirs, &conflicted, "merge 1").unwrap();
    assert_eq!(refused, ConcludeOutcome::Unresolved { files: vec!["shared.py".to_owned()] });
    write(path, "shared.py", "def greet():\n    return 'GOOD DAY'\n");
    let concluded = conclude_merge(path, &theirs, &conflicted, "merge 1").unwrap();
    let ConcludeOutcome::Committed { commit: merged } = concluded else { panic!("{concluded:?}") };
    assert_eq!(
        conclude_merge(path, &theirs, &conflicted, "merge 1").unwrap(),
        ConcludeOutcome::Committed { commit: merged.clone() },
        "a retry answers with the commit"
    );
    assert_eq!(git(path, &["rev-parse", "HEAD^2"]).trim(), theirs);

    let third = merge_branch(path, &branches[2], "merge 2").unwrap();
    assert!(matches!(third, MergeOutcome::Merged { .. }), "{third:?}");
    assert_eq!(
        merge_branch(path, &branches[2], "merge 2").unwrap(),
        MergeOutcome::Merged { commit: head(path) },
        "a branch already in is not merged twice"
    );
    assert!(path.join("other.py").exists());
    assert_eq!((user_state(root), files(root)), user, "the user's checkout is as it was");
}

#[test]
fn a_held_back_feature_leaves_nothing_behind() {
    let dir = repo();
    let root = dir.path();
    let branches = three_features(root);
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    let MergeOutcome::Merged { commit: before } = merge_branch(path, &branches[0], "merge 0").unwrap() else {
        panic!()
    };
    let conflicted = merge_branch(path, &branches[1], "merge 1").unwrap();
    assert!(matches!(conflicted, MergeOutcome::Conflicted { .. }));
    assert_eq!(reset_integration(path, &before).unwrap(), before);
    assert_eq!(std::fs::read_to_string(path.join("shared.py")).unwrap(), "def greet():\n    return 'good day'\n");
    assert!(git(path, &["status", "--porcelain"]).trim().is_empty());

    // Held back after a merge commit: the branch goes back to before it.
    let MergeOutcome::Merged { .. } = merge_branch(path, &branches[2], "merge 2").unwrap() else { panic!() };
    reset_integration(path, &before).unwrap();
    assert_eq!(head(path), before);
    assert!(!path.join("other.py").exists());
    let unrelated = worktree.base.clone();
    let MergeOutcome::Merged { .. } = merge_branch(path, &branches[2], "merge 2").unwrap() else { panic!() };
    assert_eq!(reset_integration(path, &unrelated).unwrap(), unrelated, "the base is an earlier commit too");
}

#[test]
fn land_fast_forwards_only_an_unmoved_clean_checkout() {
    let dir = repo();
    let root = dir.path();
    let branches = three_features(root);
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    merge_branch(path, &branches[2], "merge 2").unwrap();
    let tip = head(path);

    write(root, "notes.txt", "mine\n");
    let dirty = land(root, "integration/wf", &worktree.base).unwrap();
    let Landing::Refused { reason, command } = dirty else { panic!("{dirty:?}") };
    assert!(reason.contains("uncommitted changes: notes.txt"), "{reason}");
    assert!(command.contains("merge integration/wf"), "{command}");
    assert_eq!(head(root), worktree.base);
    std::fs::remove_file(root.join("notes.txt")).unwrap();

    let landed = land(root, "integration/wf", &worktree.base).unwrap();
    assert!(matches!(&landed, Landing::Landed { commit, .. } if *commit == tip), "{landed:?}");
    assert_eq!(head(root), tip);
    assert_eq!(std::fs::read_to_string(root.join("other.py")).unwrap(), "X = 1\n");
    assert!(git(root, &["status", "--porcelain"]).trim().is_empty());
    assert_eq!(land(root, "integration/wf", &worktree.base).unwrap(), landed, "landing again changes nothing");

    // A checkout that moved on is refused.
    write(root, "later.txt", "later\n");
    git(root, &["add", "later.txt"]);
    git(root, &["commit", "-qm", "later"]);
    let moved = land(root, "integration/wf", &worktree.base).unwrap();
    assert!(
        matches!(&moved, Landing::Refused { reason, .. } if reason.contains("moved since the features started")),
        "{moved:?}"
    );
}

#[test]
fn a_branch_name_git_refuses_is_refused_with_advice() {
    let dir = repo();
    let branches = three_features(dir.path());
    let err = create_integration_worktree(dir.path(), "wf", "bad..name", &branches).unwrap_err();
    assert!(err.to_string().contains("cannot name a branch"), "{err}");
}

/// Two branches from `base` of a repository with `shared.py` committed, each made by `change`
/// in its own worktree and committed. Gives the branches.
fn two_branches(root: &Path, change: impl Fn(&Path, usize)) -> Vec<String> {
    write(root, "shared.py", "def greet():\n    return 'hello'\n");
    git(root, &["add", "shared.py"]);
    git(root, &["commit", "-qm", "shared"]);
    (0..2)
        .map(|i| {
            let worktree = create_worktree(root, "wf", i as u32 + 1, &format!("side {i}")).unwrap();
            change(Path::new(&worktree.path), i);
            commit_worktree(Path::new(&worktree.path), "side").unwrap();
            worktree.branch
        })
        .collect()
}

#[test]
fn a_file_both_sides_add_conflicts_with_both_contents() {
    let dir = repo();
    let root = dir.path();
    let branches = two_branches(root, |path, i| write(path, "new.py", format!("VALUE = {i}\n")));
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    merge_branch(path, &branches[0], "merge 0").unwrap();
    let outcome = merge_branch(path, &branches[1], "merge 1").unwrap();
    assert!(matches!(&outcome, MergeOutcome::Conflicted { files, .. } if files == &["new.py"]), "{outcome:?}");
    let marked = std::fs::read_to_string(path.join("new.py")).unwrap();
    assert!(
        marked.contains("VALUE = 0") && marked.contains("VALUE = 1") && marked.contains("<<<<<<< HEAD"),
        "{marked}"
    );
}

#[test]
fn binary_and_link_conflicts_are_left_to_a_person() {
    let dir = repo();
    let root = dir.path();
    let branches = two_branches(root, |path, i| {
        std::fs::write(path.join("image.bin"), [0u8, 1, 2, i as u8, 0, 255]).unwrap();
        std::os::unix::fs::symlink(format!("target-{i}"), path.join("link")).unwrap();
    });
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    let MergeOutcome::Merged { commit } = merge_branch(path, &branches[0], "merge 0").unwrap() else { panic!() };
    let outcome = merge_branch(path, &branches[1], "merge 1").unwrap();
    assert_eq!(outcome, MergeOutcome::Unmergeable { files: vec!["image.bin".to_owned(), "link".to_owned()] });
    assert_eq!(head(path), commit, "nothing was merged");
    assert_eq!(std::fs::read(path.join("image.bin")).unwrap(), [0u8, 1, 2, 0, 0, 255]);
    assert!(git(path, &["status", "--porcelain"]).trim().is_empty());
}

#[test]
fn a_conflicted_file_deleted_counts_as_resolved_and_one_replaced_by_a_link_does_not() {
    let dir = repo();
    let root = dir.path();
    let branches = two_branches(root, |path, i| write(path, "shared.py", format!("def greet():\n    return {i}\n")));
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    merge_branch(path, &branches[0], "merge 0").unwrap();
    let MergeOutcome::Conflicted { files, theirs, .. } = merge_branch(path, &branches[1], "merge 1").unwrap() else {
        panic!()
    };
    std::fs::remove_file(path.join("shared.py")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", path.join("shared.py")).unwrap();
    let linked = conclude_merge(path, &theirs, &files, "merge 1").unwrap();
    assert_eq!(linked, ConcludeOutcome::Unresolved { files: files.clone() });
    std::fs::remove_file(path.join("shared.py")).unwrap();
    let deleted = conclude_merge(path, &theirs, &files, "merge 1").unwrap();
    assert!(matches!(deleted, ConcludeOutcome::Committed { .. }), "{deleted:?}");
    assert!(!path.join("shared.py").exists());
}

/// Whoever ran in the integration worktree removed its `.git`: libgit2 would find the user's
/// repository from there, and every call would act on the user's checkout. They are refused.
#[test]
fn a_worktree_without_its_git_file_is_refused_not_taken_for_the_users_checkout() {
    let dir = repo();
    let root = dir.path();
    let branches = three_features(root);
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    let MergeOutcome::Merged { commit } = merge_branch(path, &branches[2], "merge 2").unwrap() else { panic!() };
    write(root, "mine.txt", "the user's own work\n");
    let user = (user_state(root), files(root));
    std::fs::remove_file(path.join(".git")).unwrap();

    let reset = reset_integration(path, &worktree.base).unwrap_err();
    assert!(reset.to_string().contains("inside the git directory"), "{reset}");
    assert!(merge_branch(path, &branches[0], "merge 0").is_err());
    assert!(conclude_merge(path, &commit, &[], "merge").is_err());
    assert!(commit_worktree(path, "fix").is_err());
    assert_eq!((user_state(root), files(root)), user, "the user's checkout is as it was");
}

#[test]
fn land_finishes_a_landing_that_stopped_half_way_and_refuses_ignored_files_in_the_way() {
    let dir = repo();
    let root = dir.path();
    let branches = three_features(root);
    let worktree = create_integration_worktree(root, "wf", "integration/wf", &branches).unwrap();
    let path = Path::new(&worktree.path);
    merge_branch(path, &branches[2], "merge 2").unwrap();
    merge_branch(path, &branches[0], "merge 0").unwrap();
    let tip = head(path);

    // An ignored file of the user's where the integration adds `other.py`: refused, untouched.
    write(root, ".git/info/exclude", "other.py\n");
    write(root, "other.py", "the user's ignored file\n");
    let blocked = land(root, "integration/wf", &worktree.base).unwrap();
    assert!(
        matches!(&blocked, Landing::Refused { reason, .. } if reason.contains("ignored files of yours") && reason.contains("other.py")),
        "{blocked:?}"
    );
    assert_eq!(std::fs::read_to_string(root.join("other.py")).unwrap(), "the user's ignored file\n");
    std::fs::remove_file(root.join("other.py")).unwrap();

    // A first call wrote one file of the tip and stopped: the second finishes the landing.
    write(root, "shared.py", "def greet():\n    return 'good day'\n");
    let landed = land(root, "integration/wf", &worktree.base).unwrap();
    assert!(matches!(&landed, Landing::Landed { commit, .. } if *commit == tip), "{landed:?}");
    assert_eq!(std::fs::read_to_string(root.join("other.py")).unwrap(), "X = 1\n");
    assert!(git(root, &["status", "--porcelain"]).trim().is_empty());
}

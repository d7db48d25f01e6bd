//! Opening a project's repository, refusing states where touching it would lose work.

use std::path::{Path, PathBuf};

use git2::{Index, IndexAddOption, Oid, Repository, RepositoryState};

use crate::error::{GitContext, GitError, io};

/// A project: the repository holding it and where the project sits in its work tree.
pub(crate) struct Project {
    pub(crate) repo: Repository,
    /// The work tree's root.
    pub(crate) workdir: PathBuf,
    /// The project's directory relative to `workdir` ("" when it is the root).
    pub(crate) prefix: PathBuf,
}

/// Opens the repository whose work tree holds `path`, refusing one whose work tree or git
/// directory was redirected (see [`check_layout`]).
pub(crate) fn open(path: &Path) -> Result<Project, GitError> {
    if !path.exists() {
        return Err(GitError::MissingPath { path: path.to_path_buf() });
    }
    let path = path.canonicalize().map_err(io("resolve", path))?;
    let repo = Repository::discover(&path).map_err(|err| match err.code() {
        git2::ErrorCode::NotFound => GitError::NotARepository { path: path.clone() },
        _ => GitError::Git { action: "open the repository".to_owned(), path: path.clone(), source: err },
    })?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| GitError::Bare { path: path.clone() })?
        .canonicalize()
        .map_err(io("resolve", &path))?;
    // A worktree kept in the git directory (feature and integration worktrees) whose own `.git`
    // was removed would be found as the repository the git directory belongs to, and whatever
    // was meant for the worktree would happen in the user's checkout.
    let common = real(repo.commondir());
    if path.starts_with(&common) && !workdir.starts_with(&common) {
        return Err(GitError::InsideGitDirectory { path: path.clone(), git_dir: common });
    }
    check_layout(&repo, &path, &workdir)?;
    let prefix = path.strip_prefix(&workdir).unwrap_or(Path::new("")).to_path_buf();
    Ok(Project { repo, workdir, prefix })
}

/// Refuses a repository that is not where its files are. Whoever could write the project
/// (an earlier run's agent) could have pointed `core.worktree` elsewhere, or replaced `.git`
/// by a file or link naming another repository's git directory; the services would then
/// snapshot, restore and commit in a place nobody asked for. What git itself makes passes:
/// a `.git` directory that is the repository (no `commondir` file taking objects and refs
/// from elsewhere), a linked worktree's `.git` file naming `<common>/worktrees/<name>`, whose
/// `gitdir` file points back at it, and a submodule's whose `core.worktree` names this
/// directory. (`git init --separate-git-dir` leaves neither pointer back, and is refused.)
fn check_layout(repo: &Repository, path: &Path, workdir: &Path) -> Result<(), GitError> {
    // Where git's own discovery from `path` stops: the nearest directory holding `.git`.
    let holder = path.ancestors().find(|dir| dir.join(".git").symlink_metadata().is_ok()).unwrap_or(workdir);
    let dot_git = holder.join(".git");
    let redirected = |problem: String| GitError::Redirected { dot_git: dot_git.clone(), problem };
    let meta = dot_git.symlink_metadata().map_err(io("inspect", &dot_git))?;
    if meta.file_type().is_symlink() {
        return Err(redirected("is a symbolic link".to_owned()));
    }
    if holder != workdir {
        return Err(if meta.is_dir() {
            GitError::WorkTreeElsewhere { path: path.to_path_buf(), workdir: workdir.to_path_buf() }
        } else {
            redirected(format!("is a file naming a git directory whose work tree is {}", workdir.display()))
        });
    }
    let git_dir = real(repo.path());
    let common = real(repo.commondir());
    if meta.is_dir() {
        if git_dir != real(&dot_git) || common != git_dir {
            return Err(redirected(format!(
                "takes its objects and refs from {} (a `commondir` file)",
                common.display()
            )));
        }
        return Ok(());
    }
    // git 2.48 may write the pointer back relative to the git directory.
    let points_back = read_small(&git_dir.join("gitdir"))
        .map(|back| git_dir.join(back.trim()))
        .is_some_and(|back| real(&back) == dot_git);
    let linked = points_back && git_dir.parent() == Some(common.join("worktrees").as_path());
    let submodule = common == git_dir && repo.config().and_then(|config| config.get_path("core.worktree")).is_ok();
    if linked || submodule {
        Ok(())
    } else {
        Err(redirected(format!("is a file naming {}, which does not name this directory back", git_dir.display())))
    }
}

/// `path` with every link resolved, or as it is when it cannot be.
fn real(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// A small file's text, read without following a link and never more than a page of it.
fn read_small(file: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = String::new();
    ct_confine::bounded::open_nofollow(file).ok()?.take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Like [`open`], but refuses a repository in the middle of a merge, rebase and the like:
/// its index holds conflicts and its work tree half-applied changes.
pub(crate) fn open_clean(path: &Path) -> Result<Project, GitError> {
    let project = open(path)?;
    let (operation, hint) = match project.repo.state() {
        RepositoryState::Clean => return Ok(project),
        RepositoryState::Merge => ("merge", "`git merge --continue` or `git merge --abort`"),
        RepositoryState::Revert | RepositoryState::RevertSequence => {
            ("revert", "`git revert --continue` or `git revert --abort`")
        }
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => {
            ("cherry-pick", "`git cherry-pick --continue` or `git cherry-pick --abort`")
        }
        RepositoryState::Bisect => ("bisect", "`git bisect reset`"),
        RepositoryState::Rebase | RepositoryState::RebaseInteractive | RepositoryState::RebaseMerge => {
            ("rebase", "`git rebase --continue` or `git rebase --abort`")
        }
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => {
            ("`git am`", "`git am --continue` or `git am --abort`")
        }
    };
    Err(GitError::OperationInProgress { path: project.workdir, operation, hint })
}

/// The most of a repository's index the services read: git's own index of a repository
/// with a million files is about 100 MB.
const MAX_INDEX_BYTES: u64 = 1 << 30;

/// The whole work tree as a tree object, as `git add -A` would stage it: tracked files as
/// they are now, deleted ones gone, untracked ones added, ignored ones left out.
///
/// libgit2 runs nothing the repository configures (no filter drivers, hooks, fsmonitor),
/// and the repository's own index is never written: the tree is built in memory from what
/// the index holds (so tracked files that match .gitignore stay in, as git keeps them, and
/// unchanged files are not rehashed), attached to a second handle of the repository so no
/// other handle sees it. No scratch file exists for anyone to swap.
pub(crate) fn work_tree_tree(project: &Project) -> Result<Oid, GitError> {
    let path = &project.workdir;
    let repo = Repository::open(project.repo.path()).git("open the repository", path)?;
    crate::control_files::check(&repo, path)?;
    let mut index = index_in_memory(&repo)?;
    repo.set_index(&mut index).git("use a private copy of the index", path)?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None).git("add the work tree to a private index", path)?;
    index.update_all(["*"], None).git("drop deleted files from a private index", path)?;
    index.write_tree().git("write the work tree as a tree", path)
}

/// The repository's index as it is on disk, loaded (never written back); an empty one when
/// there is none yet. A link or an oversized file there is refused rather than followed.
fn index_in_memory(repo: &Repository) -> Result<Index, GitError> {
    let file = repo.path().join("index");
    let unsafe_index = |problem: String| GitError::UnsafeIndex { path: file.clone(), problem };
    match file.symlink_metadata() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Index::new().git("make an empty index", repo.path()),
        Err(err) => Err(io("inspect", &file)(err)),
        Ok(meta) if !meta.is_file() => Err(unsafe_index("is not a regular file".to_owned())),
        Ok(meta) if meta.len() > MAX_INDEX_BYTES => {
            Err(unsafe_index(format!("holds {} bytes, more than the {MAX_INDEX_BYTES} the services read", meta.len())))
        }
        Ok(_) => Index::open(&file).git("read the index", repo.path()),
    }
}

/// The commit local branch `branch` points at; a branch that does not exist is named.
pub(crate) fn branch_tip<'r>(repo: &'r Repository, branch: &str, path: &Path) -> Result<git2::Commit<'r>, GitError> {
    let found = match repo.find_branch(branch, git2::BranchType::Local) {
        Ok(found) => found,
        Err(err) if err.code() == git2::ErrorCode::NotFound || err.code() == git2::ErrorCode::InvalidSpec => {
            return Err(GitError::UnknownBranch { branch: branch.to_owned(), path: path.to_path_buf() });
        }
        Err(err) => return Err(err).git(format!("read branch {branch}"), path),
    };
    found.get().peel_to_commit().git(format!("read branch {branch}"), path)
}

use std::path::PathBuf;

/// What went wrong with a project's repository, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("project path {path} does not exist: check the path (it must be a git work tree)")]
    MissingPath { path: PathBuf },
    #[error(
        "{path} is not a git repository; snapshots and worktrees need one. Run \
         `git init && git add -A && git commit -m initial` there first"
    )]
    NotARepository { path: PathBuf },
    #[error("{path} is a bare repository: point at a work tree with files in it")]
    Bare { path: PathBuf },
    #[error("the repository at {path} is in the middle of a {operation}; finish it first ({hint})")]
    OperationInProgress { path: PathBuf, operation: &'static str, hint: &'static str },
    #[error("snapshot `{reference}` does not exist in {path}; `claude-temporal snapshots ID` lists the ones there are")]
    SnapshotNotFound { reference: String, path: PathBuf },
    #[error(transparent)]
    FeatureName(#[from] ct_domain::git::FeatureNameError),
    #[error(
        "branch `{branch}` already exists in {path} and does not point at HEAD; delete it \
         (`git branch -D {branch}`) or rename the feature"
    )]
    BranchExists { branch: String, path: PathBuf },
    #[error(
        "the repository of {path} says its work tree is {workdir} (`core.worktree`): the services \
         refuse a work tree that is elsewhere; remove the setting (`git config --unset core.worktree`)"
    )]
    WorkTreeElsewhere { path: PathBuf, workdir: PathBuf },
    #[error(
        "{dot_git} {problem}: the services refuse a git directory redirected elsewhere; restore \
         the `.git` that `git init`, `git clone` or `git worktree add` made"
    )]
    Redirected { dot_git: PathBuf, problem: String },
    #[error("{path} {problem}: git itself never leaves it so; remove it (`git reset` rebuilds the index)")]
    UnsafeIndex { path: PathBuf, problem: String },
    #[error(
        "{path} {problem}: git reads it while it walks the work tree, and the services will not \
         (remove it, or replace it by a regular file)"
    )]
    UnsafeControlFile { path: PathBuf, problem: String },
    #[error(
        "snapshot `{reference}` holds the path {entry:?}, which a restore never writes (outside \
         the work tree, or inside .git): nothing was restored"
    )]
    UnsafeEntry { reference: String, entry: String },
    #[error(
        "{path} is not a feature worktree of this repository (they live below {root}): \
         nothing was removed"
    )]
    NotAFeatureWorktree { path: PathBuf, root: PathBuf },
    #[error(
        "{path} is inside the git directory {git_dir} and is no work tree of its own (its `.git` is \
         gone): nothing was done there"
    )]
    InsideGitDirectory { path: PathBuf, git_dir: PathBuf },
    #[error("branch {branch} does not exist in {path}: `git branch` lists the branches there")]
    UnknownBranch { branch: String, path: PathBuf },
    #[error("`{branch}` cannot name a branch: choose another name (letters, digits, `-`, `_`, `/`)")]
    BadBranchName { branch: String },
    #[error("{commit} is not an earlier commit of the integration branch in {path}: nothing was reset")]
    NotAnAncestor { commit: String, path: PathBuf },
    #[error("cannot {action} in {path}: {source}")]
    Git { action: String, path: PathBuf, source: git2::Error },
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

impl GitError {
    /// Whether trying again may succeed: libgit2 and file system errors may be passing (a lock
    /// held by a concurrent git command); anything about the project itself stays as it is.
    pub fn may_pass(&self) -> bool {
        matches!(self, GitError::Git { .. } | GitError::Io { .. })
    }
}

pub(crate) trait GitContext<T> {
    /// Names what was being done and where, for a libgit2 error.
    fn git(self, action: impl Into<String>, path: &std::path::Path) -> Result<T, GitError>;
}

impl<T> GitContext<T> for Result<T, git2::Error> {
    fn git(self, action: impl Into<String>, path: &std::path::Path) -> Result<T, GitError> {
        self.map_err(|source| GitError::Git { action: action.into(), path: path.to_path_buf(), source })
    }
}

pub(crate) fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> GitError {
    let path = path.to_path_buf();
    move |source| GitError::Io { action, path, source }
}

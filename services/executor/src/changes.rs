//! What a run changed in the work tree, measured by git without touching the user's index,
//! refs or files: the whole tree (tracked and untracked, minus ignored files) is written as a
//! tree object before and after the run, through an index file of our own, and the two trees
//! are diffed.

use std::path::{Path, PathBuf};

use ct_proto::executor::FileChanges;
use tokio::process::Command;

use crate::error::Error;

async fn git(dir: &Path, args: &[&str], index: Option<&Path>) -> Result<String, Error> {
    let mut cmd = Command::new("git");
    // The agent can write the repository's config: the executor's own git, which runs outside
    // the sandbox, must not run commands named there (fsmonitor, hooks).
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .kill_on_drop(true);
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let output = cmd.output().await.map_err(Error::GitMissing)?;
    if !output.status.success() {
        return Err(Error::Git {
            command: args.join(" "),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Checks that `project` is a directory inside a git work tree.
pub(crate) async fn check_project(project: &str) -> Result<PathBuf, Error> {
    let invalid = |problem: String| Error::InvalidProjectPath {
        path: project.to_owned(),
        problem,
    };
    let path = Path::new(project);
    if project.is_empty() || !path.is_absolute() {
        return Err(invalid(
            "is not an absolute path: pass the project's absolute path".to_owned(),
        ));
    }
    if !path.is_dir() {
        return Err(invalid(
            "is not an existing directory: create it or fix the path".to_owned(),
        ));
    }
    let git_says = match git(path, &["rev-parse", "--is-inside-work-tree"], None).await {
        Ok(out) if out.trim() == "true" => return Ok(path.to_path_buf()),
        Ok(out) => out.trim().to_owned(),
        Err(Error::Git { stderr, .. }) => stderr,
        Err(err) => return Err(err),
    };
    Err(invalid(format!(
        "is not inside a git work tree (git: {git_says}): run `git init` there; the executor \
         reports what the agent changed through git"
    )))
}

/// A tree id for the whole work tree as it is now. `index` is a scratch index file; when it
/// does not exist yet it starts as a copy of the repository's own index so that `git add`
/// only rehashes files that changed.
pub(crate) async fn snapshot(project: &Path, index: &Path) -> Result<String, Error> {
    if !index.exists() {
        let real = git(
            project,
            &["rev-parse", "--path-format=absolute", "--git-path", "index"],
            None,
        )
        .await?;
        let real = PathBuf::from(real.trim());
        if real.exists() {
            tokio::fs::copy(&real, index)
                .await
                .map_err(|source| Error::RunDir {
                    dir: index.to_path_buf(),
                    source,
                })?;
        }
    }
    git(project, &["add", "--all", "--", ":/"], Some(index)).await?;
    Ok(git(project, &["write-tree"], Some(index))
        .await?
        .trim()
        .to_owned())
}

/// The files that differ between two snapshots, relative to `project`.
pub(crate) async fn diff(project: &Path, before: &str, after: &str) -> Result<FileChanges, Error> {
    let out = git(
        project,
        &[
            "diff",
            "--numstat",
            "-z",
            "--no-renames",
            "--relative",
            before,
            after,
        ],
        None,
    )
    .await?;
    Ok(parse_numstat(&out))
}

/// Parses `git diff --numstat -z --no-renames`: `added TAB removed TAB path NUL` per file,
/// with `-` for both counts on binary files.
fn parse_numstat(out: &str) -> FileChanges {
    let mut changes = FileChanges::default();
    for record in out.split('\0').filter(|r| !r.is_empty()) {
        let mut fields = record.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        changes.lines_added += added.parse::<u64>().unwrap_or(0);
        changes.lines_removed += removed.parse::<u64>().unwrap_or(0);
        changes.files.push(path.to_owned());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_counts_lines_and_binary_files() {
        let out = [
            "3\t1\tsrc/lib.rs",
            "-\t-\tlogo.png",
            "0\t0\tname with\ttab",
            "",
        ]
        .join("\0");
        let changes = parse_numstat(&out);
        assert_eq!(changes.files, ["src/lib.rs", "logo.png", "name with\ttab"]);
        assert_eq!((changes.lines_added, changes.lines_removed), (3, 1));
    }
}

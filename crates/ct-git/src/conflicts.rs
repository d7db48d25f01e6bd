//! Conflicts between branches, predicted without touching any work tree: each pair of branches
//! merged in memory (libgit2 merges the two commits into an index that is never written) and
//! the paths that conflict listed. libgit2 runs no merge driver, filter or hook a repository
//! configures: only its built-in text merge. The merges read the repository bare, so nothing
//! of a work tree (its `.gitattributes`, whatever a link there points at) is read either, and
//! rename detection is bounded.

use std::path::Path;

use ct_domain::capped;
use ct_domain::git::PredictedConflict;
use git2::{MergeOptions, Repository};

use crate::error::{GitContext, GitError};
use crate::repo;

/// Files compared for renames per merge (git's own default limit is 1,000).
const RENAME_CANDIDATES: u32 = 200;

/// Every pair of `branches` (in their order) whose merge would conflict, with the conflicting
/// paths. Pairs that merge cleanly are left out.
pub fn predict_conflicts(project: &Path, branches: &[String]) -> Result<Vec<PredictedConflict>, GitError> {
    let project = repo::open(project)?;
    let path = &project.workdir;
    let repo =
        &Repository::open_bare(project.repo.commondir()).git("open the repository without its work tree", path)?;
    let commits = branches.iter().map(|name| repo::branch_tip(repo, name, path)).collect::<Result<Vec<_>, _>>()?;
    let mut options = MergeOptions::new();
    options.target_limit(RENAME_CANDIDATES);
    let mut predicted = Vec::new();
    for (i, first) in commits.iter().enumerate() {
        for (j, second) in commits.iter().enumerate().skip(i + 1) {
            let merged = repo
                .merge_commits(first, second, Some(&options))
                .git(format!("merge {} with {} in memory", branches[i], branches[j]), path)?;
            if !merged.has_conflicts() {
                continue;
            }
            let mut files = Vec::new();
            for conflict in merged.conflicts().git("list the conflicts of an in-memory merge", path)? {
                let conflict = conflict.git("read a conflict of an in-memory merge", path)?;
                let entry = conflict.our.or(conflict.their).or(conflict.ancestor);
                if let Some(entry) = entry {
                    files.push(String::from_utf8_lossy(&entry.path).into_owned());
                }
            }
            files.sort();
            files.dedup();
            let files_truncated = capped::keep_paths(&mut files);
            predicted.push(PredictedConflict {
                first: branches[i].clone(),
                second: branches[j].clone(),
                files,
                files_truncated,
            });
        }
    }
    Ok(predicted)
}

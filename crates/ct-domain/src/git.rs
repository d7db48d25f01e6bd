//! What the git activities report, and the names they give refs and branches: plain data and
//! pure functions, so the workflows can name and read them without linking git itself (the
//! git work is ct-git's, in the executor).

use serde::{Deserialize, Serialize};

/// Where every snapshot ref lives.
pub const SNAPSHOT_REF_ROOT: &str = "refs/claude-temporal/snapshots";

/// Longest slug kept from a feature name; branch names stay readable.
const MAX_SLUG: usize = 40;

/// One snapshot, as listed and as the snapshot activity reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    /// 1 for the workflow's first snapshot.
    pub number: u32,
    /// Full ref name, e.g. `refs/claude-temporal/snapshots/develop-x/2`.
    pub reference: String,
    pub commit: String,
    /// The stage it was taken before.
    pub stage: String,
    /// Seconds since the Unix epoch.
    pub created_unix: i64,
    /// Files that differ from the commit HEAD was on when it was taken (the first
    /// [`crate::capped::MAX_LISTED_PATHS`]).
    pub files: Vec<String>,
    /// `files` lists only the first of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files_truncated: bool,
}

/// The work tree as git tree objects before and after an agent run: the stage's diff, read
/// from the repository's objects (unreferenced, so `git gc` drops them after its prune delay).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StageTrees {
    pub before: String,
    pub after: String,
}

/// What a restore changed in the work tree, relative to the work tree's root.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestoreReport {
    /// Files written back (changed or deleted since the snapshot).
    pub written: Vec<String>,
    /// Files removed (created since the snapshot).
    pub removed: Vec<String>,
    /// The commit put back (empty in reports of older builds).
    #[serde(default)]
    pub commit: String,
    /// `written` and `removed` list only the first [`crate::capped::MAX_LISTED_PATHS`] each.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// A feature's checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeatureWorktree {
    /// 1-based position of the feature.
    pub index: u32,
    pub feature: String,
    pub branch: String,
    pub path: String,
}

/// Two branches whose merge would conflict, and where.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PredictedConflict {
    pub first: String,
    pub second: String,
    /// The conflicting paths (the first [`crate::capped::MAX_LISTED_PATHS`]).
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files_truncated: bool,
}

/// The integration branch's checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntegrationWorktree {
    pub branch: String,
    pub path: String,
    /// The commit the branch starts from: where the integrated branches forked.
    pub base: String,
}

/// What merging a branch into the integration worktree did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// Merged without conflict: the merge commit (or the tip, when the branch was in already).
    Merged { commit: String },
    /// The work tree holds the merge with conflict markers in `files`; HEAD has not moved.
    /// `tree` is that state (a retried resolving run starts over from it), `theirs` the commit
    /// being merged.
    Conflicted {
        files: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        files_truncated: bool,
        tree: String,
        theirs: String,
    },
    /// Conflicts no text merge can show (a binary file or a link on either side): nothing was
    /// changed, and the branch is for a person to merge.
    Unmergeable { files: Vec<String> },
}

/// What concluding a conflicted merge did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConcludeOutcome {
    /// The merge commit, with both parents.
    Committed { commit: String },
    /// Files that still hold conflict markers; nothing was committed.
    Unresolved { files: Vec<String> },
}

/// A feature name no branch can be made from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureNameError {
    #[error("feature {feature:?} cannot name a branch: {reason}")]
    Invalid { feature: String, reason: String },
    #[error("features {first:?} and {second:?} would share the branch suffix `{slug}`: name them differently")]
    Duplicate { first: String, second: String, slug: String },
}

/// The ref of snapshot `number` of `workflow_id`.
pub fn snapshot_ref(workflow_id: &str, number: u32) -> String {
    format!("{SNAPSHOT_REF_ROOT}/{}/{number}", snapshot_ref_component(workflow_id))
}

/// A workflow id as one ref path component: characters git refuses in ref names become `-`.
pub fn snapshot_ref_component(workflow_id: &str) -> String {
    let mut out: String =
        workflow_id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    while out.contains("..") {
        out = out.replace("..", "-.");
    }
    let out = out.trim_start_matches('.').to_owned();
    let out = out.strip_suffix(".lock").map_or(out.clone(), |s| format!("{s}-lock"));
    if out.is_empty() { "-".to_owned() } else { out }
}

/// The branch name of feature `index` (1-based): `feature-<index>-<slug>`, where the slug
/// keeps the name's letters and digits in lower case and turns every other run into `-`.
/// Letters, digits and single inner dashes are all git allows in a ref name without question,
/// so the name is valid by construction.
pub fn branch_name(index: u32, feature: &str) -> Result<String, FeatureNameError> {
    let slug = slug(feature);
    if slug.is_empty() {
        return Err(FeatureNameError::Invalid {
            feature: feature.to_owned(),
            reason: "it has no letters or digits".to_owned(),
        });
    }
    Ok(format!("feature-{index}-{slug}"))
}

/// Branch names for a list of features, refusing empty names and names that only differ
/// in what the slug drops (they would be indistinguishable on their branches).
pub fn feature_branches(features: &[String]) -> Result<Vec<String>, FeatureNameError> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut branches = Vec::with_capacity(features.len());
    for (position, feature) in features.iter().enumerate() {
        let branch = branch_name(position as u32 + 1, feature)?;
        let slug = slug(feature);
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == slug) {
            return Err(FeatureNameError::Duplicate { first: (*first).to_owned(), second: feature.clone(), slug });
        }
        seen.push((slug, feature));
        branches.push(branch);
    }
    Ok(branches)
}

fn slug(feature: &str) -> String {
    let mut slug = String::new();
    for c in feature.trim().chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug: String = slug.chars().take(MAX_SLUG).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_become_valid_branch_names() {
        assert_eq!(branch_name(1, "Word counts!").unwrap(), "feature-1-word-counts");
        assert_eq!(branch_name(2, "  --CSV export (v2)..lock ").unwrap(), "feature-2-csv-export-v2-lock");
        assert_eq!(branch_name(3, "Ünïcode größe").unwrap(), "feature-3-ünïcode-größe");
        assert_eq!(branch_name(4, "a/b~c^d:e?f*g[h\\i@{j").unwrap(), "feature-4-a-b-c-d-e-f-g-h-i-j");
        let long = branch_name(5, &"x".repeat(200)).unwrap();
        assert_eq!(long.len(), "feature-5-".len() + MAX_SLUG);
    }

    #[test]
    fn empty_and_duplicate_features_are_refused() {
        let err = branch_name(1, "  ").unwrap_err();
        assert!(matches!(err, FeatureNameError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("no letters or digits"), "{err}");
        assert!(feature_branches(&["ok".into(), "?!".into()]).is_err());

        let err = feature_branches(&["Word counts".into(), "stats".into(), "word-counts".into()]).unwrap_err();
        assert!(matches!(err, FeatureNameError::Duplicate { .. }), "{err}");
        assert!(err.to_string().contains("\"Word counts\" and \"word-counts\""), "{err}");

        assert_eq!(feature_branches(&["a".into(), "b".into()]).unwrap(), ["feature-1-a", "feature-2-b"]);
    }

    #[test]
    fn workflow_ids_become_one_ref_component() {
        assert_eq!(
            snapshot_ref("develop/with spaces:odd", 2),
            "refs/claude-temporal/snapshots/develop-with-spaces-odd/2"
        );
        assert_eq!(snapshot_ref_component("..x..lock"), "-.x--lock");
        assert_eq!(snapshot_ref_component(""), "-");
    }
}

//! `/workflows/<id>/stages/<n>/diff`: what stage `n` (from 1) changed, as a unified diff of the
//! work tree before and after its agent run, read from the project's repository (libgit2,
//! objects only: nothing in the work tree is opened, nothing the repository configures runs).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{layout, path_segment, workflow::status_of};
use crate::Gateway;
use crate::auth::signed_in;
use crate::page::escape;

/// The most of a diff shown: a browser stays responsive, and a stage that rewrote the project
/// is read in the repository instead.
const MAX_DIFF_BYTES: usize = 512 * 1024;

pub(crate) async fn page(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((id, number)): Path<(String, usize)>,
) -> Response {
    let who = match signed_in(&gateway, &headers) {
        Ok(who) => who,
        Err(sign_in) => return *sign_in,
    };
    let back = format!("<p><a href=\"/workflows/{}\">Back to the workflow</a></p>", path_segment(&id));
    let notice = |code: StatusCode, title: &str, text: &str| {
        layout(code, title, &who, &format!("<p>{}</p>{back}", escape(text)), false)
    };
    let status = match status_of(&gateway, &id).await {
        Ok(status) => status,
        Err((code, why)) => return notice(code, &id, &why),
    };
    let Some(stage) = number.checked_sub(1).and_then(|index| status.stages.get(index)) else {
        return notice(StatusCode::NOT_FOUND, &id, &format!("Workflow `{id}` has no stage {number}."));
    };
    let title = format!("{id}: {}", stage.name);
    let Some(trees) = stage.trees.clone() else {
        return notice(
            StatusCode::NOT_FOUND,
            &title,
            "This stage has no recorded diff: its agent has not completed a run yet (or ran on a build \
             that did not record one).",
        );
    };
    // libgit2 works on the blocking pool; a few diffs at a time keep it free for the rest. The
    // slot goes with the work, which goes on when the request is timed out and dropped.
    let Ok(slot) = gateway.diffs.clone().try_acquire_owned() else {
        return notice(StatusCode::SERVICE_UNAVAILABLE, &title, "Other diffs are being read; try again in a moment.");
    };
    let project = status.project_path.clone();
    let read = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        ct_git::patch(std::path::Path::new(&project), &trees.before, &trees.after, MAX_DIFF_BYTES)
    })
    .await;
    let patch = match read {
        Ok(Ok(patch)) => patch,
        Ok(Err(err)) => {
            tracing::warn!(workflow = %id, stage = %stage.name, %err, "cannot read a stage's diff");
            return notice(
                StatusCode::BAD_GATEWAY,
                &title,
                &format!(
                    "The diff could not be read from the repository at {}: {err}. The gateway reads it there \
                     (in compose, CT_WORKSPACE is mounted into it), and `git gc` removes a diff's trees \
                     some weeks after the run.",
                    status.project_path
                ),
            );
        }
        Err(join) => {
            tracing::error!(workflow = %id, %join, "reading a diff stopped");
            return notice(StatusCode::INTERNAL_SERVER_ERROR, &title, "Reading the diff failed; try again.");
        }
    };
    let summary = format!(
        "{}{} files changed (+{}/-{}).",
        if stage.files_truncated { "over " } else { "" },
        stage.files_changed.len(),
        stage.lines_added,
        stage.lines_removed
    );
    let cut = if patch.truncated {
        format!("<p class=\"notice\">Only the first {} KiB of the diff are shown.</p>", MAX_DIFF_BYTES / 1024)
    } else {
        String::new()
    };
    let body = if patch.text.is_empty() && !patch.truncated {
        "<p>The stage changed nothing.</p>".to_owned()
    } else {
        format!("{cut}<pre class=\"diff\">{}</pre>{cut}", lines(&patch.text))
    };
    layout(StatusCode::OK, &title, &who, &format!("<p>{}</p>{body}{back}", escape(&summary)), false)
}

/// The diff's lines, escaped, each in a span saying what it is.
fn lines(text: &str) -> String {
    text.lines()
        .map(|line| {
            let class = if line.starts_with("diff ")
                || line.starts_with("index ")
                || line.starts_with("--- ")
                || line.starts_with("+++ ")
            {
                "file"
            } else if line.starts_with("@@") {
                "hunk"
            } else if line.starts_with('+') {
                "add"
            } else if line.starts_with('-') {
                "del"
            } else {
                "same"
            };
            format!("<span class=\"{class}\">{}</span>\n", escape(line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_lines_are_escaped_and_marked() {
        let shown = super::lines("diff --git a/x b/x\n@@ -1 +1 @@\n-<old>\n+new & more\n same\n");
        assert_eq!(
            shown,
            "<span class=\"file\">diff --git a/x b/x</span>\n<span class=\"hunk\">@@ -1 +1 @@</span>\n\
             <span class=\"del\">-&lt;old&gt;</span>\n<span class=\"add\">+new &amp; more</span>\n\
             <span class=\"same\"> same</span>\n"
        );
    }
}

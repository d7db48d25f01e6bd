//! Which task queue each kind of activity goes to. Every queue is named after the workflow
//! worker's own queue, so a second deployment on another queue (`TEMPORAL_TASK_QUEUE`) gets
//! its own executors and test-runners, and workflow code can derive them deterministically.

const AGENTS_SUFFIX: &str = ".agents";
const TESTS_SUFFIX: &str = ".tests";
const FILES_SUFFIX: &str = ".files";

/// Agent runs: polled by executors.
pub fn agents_queue(workflow_queue: &str) -> String {
    format!("{workflow_queue}{AGENTS_SUFFIX}")
}

/// Test runs: polled by test-runners.
pub fn tests_queue(workflow_queue: &str) -> String {
    format!("{workflow_queue}{TESTS_SUFFIX}")
}

/// Work on the project's files (snapshots, restores, worktrees, commits): polled by executors,
/// where the files are, with slots of its own, so that seconds of git work never wait behind
/// hours of agent runs. Pinning a workflow's file work to one host means returning a
/// host-specific queue from here.
pub fn files_queue(workflow_queue: &str) -> String {
    format!("{workflow_queue}{FILES_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_deployment_gets_the_documented_queue_names() {
        assert_eq!(agents_queue("claude-temporal"), "claude-temporal.agents");
        assert_eq!(tests_queue("claude-temporal"), "claude-temporal.tests");
        assert_eq!(files_queue("claude-temporal"), "claude-temporal.files");
    }
}

//! Checkpoints of a running agent: its conversation up to a tool result, paired with the work
//! tree at that same moment, so that a retry on any executor can continue the conversation
//! (`claude --resume`) instead of starting it over.
//!
//! The pair is only worth anything if nothing happened between the two: the CLI is paused
//! (SIGSTOP to its process group) while both are read, and a checkpoint is dropped when the
//! agent had already begun another tool call by the time it stopped.

use std::path::{Component, Path, PathBuf};

use crate::messages::Checkpoint;
use ct_confine::Redactor;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What a resumed run is told; the conversation before it says what the task was.
pub(crate) const RESUME_PROMPT: &str = "Your previous run of this task was interrupted (the machine running it \
stopped) right after the last tool result above. The files are exactly as they were at that moment. Continue \
the task from there: do not redo steps that already succeeded.";

/// The largest conversation a checkpoint carries (and the most read of a conversation file,
/// which the agent could replace by anything): far beyond a long session's transcript.
pub(crate) const MAX_CONVERSATION_BYTES: u64 = 64 << 20;

/// The conversation file the agent's CLI writes below `home`, read as hostile input: never
/// through a link (the file or a directory on its way), never more than
/// [`MAX_CONVERSATION_BYTES`].
pub(crate) fn read_conversation(home: &Path, file: &Path) -> std::io::Result<Vec<u8>> {
    let relative = file.strip_prefix(home).map_err(std::io::Error::other)?;
    ct_confine::bounded::read_file_below(home, relative, MAX_CONVERSATION_BYTES)
}

/// Where the CLI keeps the conversation `session_id` of a run whose HOME is `home`:
/// `.claude/projects/<working directory, as a name>/<session id>.jsonl`.
pub(crate) fn find_transcript(home: &Path, session_id: &str) -> Option<PathBuf> {
    let file = format!("{session_id}.jsonl");
    std::fs::read_dir(home.join(".claude/projects"))
        .ok()?
        .filter_map(Result::ok)
        .map(|project| project.path().join(&file))
        .find(|candidate| candidate.is_file())
}

/// Whether the conversation holds the entry `uuid` (a quick look, before pausing the CLI).
pub(crate) fn holds(transcript: &[u8], uuid: &str) -> bool {
    let needle = format!(r#""uuid":"{uuid}""#);
    transcript.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// The conversation up to and including the entry `uuid`, redacted line by line; `None` when
/// the CLI has not written that entry (yet).
pub(crate) fn cut_after(transcript: &[u8], uuid: &str, redactor: &Redactor) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Entry<'a> {
        #[serde(borrow)]
        uuid: Option<&'a str>,
    }
    let mut kept = Vec::with_capacity(transcript.len());
    for line in transcript.split_inclusive(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        kept.extend_from_slice(redactor.redact(&text).as_bytes());
        if serde_json::from_slice::<Entry<'_>>(line.trim_ascii()).is_ok_and(|entry| entry.uuid == Some(uuid)) {
            if !kept.ends_with(b"\n") {
                kept.push(b'\n');
            }
            return Some(kept);
        }
    }
    None
}

/// Puts a checkpoint's conversation where the CLI of a run with HOME `home` looks for it.
pub(crate) fn install(home: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let relative = Path::new(&checkpoint.transcript_path);
    // The path comes from another executor's heartbeat store: it may name only a file below
    // the run's own `.claude/projects`.
    let inside =
        relative.starts_with(".claude/projects") && relative.components().all(|c| matches!(c, Component::Normal(_)));
    if !inside {
        return Err(std::io::Error::other(format!(
            "the checkpoint's conversation path {relative:?} is not below .claude/projects"
        )));
    }
    let file = home.join(relative);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, &checkpoint.transcript)
}

/// The CLI's process group stopped until this is dropped.
pub(crate) struct Paused(Pid);

impl Paused {
    pub(crate) fn new(group: Pid) -> std::io::Result<Paused> {
        killpg(group, Signal::SIGSTOP)?;
        Ok(Paused(group))
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Err(err) = killpg(self.0, Signal::SIGCONT) {
            tracing::warn!(%err, "cannot let the agent go on after a checkpoint");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSCRIPT: &str = concat!(
        r#"{"type":"user","uuid":"u1","message":{"content":"do it"}}"#,
        "\n",
        r#"{"type":"assistant","uuid":"a1","message":{"content":[{"type":"tool_use"}]}}"#,
        "\n",
        r#"{"type":"user","uuid":"u2","message":{"content":[{"type":"tool_result","content":"key sk-secret-value-0123"}]}}"#,
        "\n",
        r#"{"type":"attachment","uuid":"x1","parentUuid":"u2"}"#,
        "\n",
        r#"{"type":"assistant","uuid":"a2"}"#,
        "\n",
    );

    #[test]
    fn the_conversation_is_cut_after_the_tool_result_and_redacted() {
        let redactor = Redactor::new([("ANTHROPIC_API_KEY".to_owned(), "sk-secret-value-0123".to_owned())], []);
        let cut = String::from_utf8(cut_after(TRANSCRIPT.as_bytes(), "u2", &redactor).unwrap()).unwrap();
        assert_eq!(cut.lines().count(), 3);
        assert!(cut.lines().last().unwrap().contains(r#""uuid":"u2""#));
        assert!(!cut.contains("sk-secret-value-0123"), "{cut}");
        assert!(cut_after(TRANSCRIPT.as_bytes(), "u9", &redactor).is_none());
        assert!(holds(TRANSCRIPT.as_bytes(), "u2") && !holds(TRANSCRIPT.as_bytes(), "u9"));
    }

    #[test]
    fn a_conversation_is_installed_only_below_the_projects_directory() -> std::io::Result<()> {
        let home = tempfile::tempdir()?;
        let mut checkpoint = Checkpoint {
            session_id: "s".to_owned(),
            transcript_path: ".claude/projects/-tmp-p/s.jsonl".to_owned(),
            transcript: b"{}\n".to_vec(),
            ..Checkpoint::default()
        };
        install(home.path(), &checkpoint)?;
        assert_eq!(find_transcript(home.path(), "s"), Some(home.path().join(".claude/projects/-tmp-p/s.jsonl")));
        for escape in [".claude/projects/../../etc/x.jsonl", "/etc/x.jsonl", ".bashrc"] {
            checkpoint.transcript_path = escape.to_owned();
            assert!(install(home.path(), &checkpoint).is_err(), "{escape}");
        }
        Ok(())
    }
}

//! Checkpoints while a run drives: once the CLI has written a tool result to its conversation,
//! the CLI is paused, the conversation up to that result and the work tree are taken, and the
//! run goes on. A retry on any executor resumes from the last one.

use std::time::{Duration, Instant};

use ct_confine::bounded;
use tokio::io::BufReader;
use tokio::process::ChildStdout;
use tokio::sync::mpsc;

use super::{EventSender, MAX_OUTPUT_LINE, Run};
use crate::changes;
use crate::checkpoint::{self, Paused};
use crate::error::Error;
use crate::messages::{Checkpoint, RunEvent};
use crate::transcript::Transcript;

/// With the CLI paused, output it wrote before it stopped is already in the pipe: a read that
/// finds nothing for this long has read it all.
const PAUSED_OUTPUT_READ: Duration = Duration::from_millis(10);
/// How often to look whether the CLI has written a tool result to its conversation file, which
/// it does in batches (measured with 2.1.331: up to ~100 ms after printing the result).
pub(super) const CHECKPOINT_POLL: Duration = Duration::from_millis(20);
/// A tool result not in the conversation file after this long gets no checkpoint.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(2);

/// A checkpoint owed after the tool result `at`, for as long as the agent has not begun
/// another tool call (`steps` is the transcript's count when the result came).
#[derive(Debug)]
pub(super) struct Due {
    pub(super) at: String,
    pub(super) steps: u32,
    pub(super) since: Instant,
}

impl Run {
    /// Once the CLI has written the tool result `due.at` to its conversation file: pauses the
    /// CLI, reads what it printed before it stopped, and unless the agent had begun another
    /// tool call by then, sends the conversation so far with the work tree as a checkpoint.
    /// Gives `due` back while the file lacks the result; a checkpoint that cannot be made is
    /// skipped, and the previous one still holds. `Err` when nobody listens any more.
    pub(super) async fn checkpoint(
        &mut self,
        due: Due,
        stdout: &mut BufReader<ChildStdout>,
        line: &mut Vec<u8>,
        transcript: &mut Transcript,
        tx: &EventSender,
    ) -> Result<Option<Due>, ()> {
        let written = checkpoint::find_transcript(&self.home, &transcript.session_id)
            .and_then(|file| checkpoint::read_conversation(&self.home, &file).ok())
            .is_some_and(|conversation| checkpoint::holds(&conversation, &due.at));
        if !written {
            if due.since.elapsed() > CHECKPOINT_WAIT {
                tracing::debug!("the CLI did not write the tool result to its conversation in time; no checkpoint");
                return Ok(None);
            }
            return Ok(Some(due));
        }
        let began = Instant::now();
        let paused = match Paused::new(self.group) {
            Ok(paused) => paused,
            Err(err) => {
                tracing::debug!(%err, "cannot pause the agent; no checkpoint");
                return Ok(None);
            }
        };
        while let Ok(Ok(read)) =
            tokio::time::timeout(PAUSED_OUTPUT_READ, bounded::read_line(stdout, line, MAX_OUTPUT_LINE)).await
        {
            // A partial line stays in `line` for the main loop.
            if read == 0 || !line.ends_with(b"\n") {
                break;
            }
            self.handle_line(line, transcript, tx)?;
            line.clear();
        }
        if transcript.tool_steps != due.steps {
            tracing::debug!("the agent began another tool call before it paused; no checkpoint here");
            return Ok(None);
        }
        let made = self.take_checkpoint(&due.at, transcript).await;
        drop(paused);
        match made {
            Ok(Some(made)) => {
                tracing::debug!(
                    responses = made.responses,
                    bytes = made.transcript.len(),
                    paused_ms = began.elapsed().as_secs_f64() * 1000.0,
                    "checkpoint"
                );
                let event = RunEvent::Checkpoint(made);
                match tx.try_send(event) {
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!("event reader falls behind; dropped a checkpoint")
                    }
                    Ok(()) => {}
                }
            }
            Ok(None) => tracing::debug!("the conversation file lost the tool result; no checkpoint"),
            Err(err) => tracing::warn!(%err, "cannot record the work tree for a checkpoint"),
        }
        Ok(None)
    }

    /// The conversation up to the tool result `at` and the work tree as it is now.
    async fn take_checkpoint(&self, at: &str, transcript: &Transcript) -> Result<Option<Checkpoint>, Error> {
        let Some(file) = checkpoint::find_transcript(&self.home, &transcript.session_id) else {
            return Ok(None);
        };
        let conversation = match checkpoint::read_conversation(&self.home, &file) {
            Ok(conversation) => conversation,
            Err(err) => {
                tracing::warn!(%err, "cannot read the agent's conversation; no checkpoint");
                return Ok(None);
            }
        };
        let Some(conversation) = checkpoint::cut_after(&conversation, at, &self.redactor) else {
            return Ok(None);
        };
        let tree = changes::snapshot(&self.project).await?;
        Ok(Some(Checkpoint {
            session_id: transcript.session_id.clone(),
            transcript_path: file.strip_prefix(&self.home).unwrap_or(&file).display().to_string(),
            transcript: conversation,
            tree,
            before_tree: self.before.clone().unwrap_or_default(),
            responses: self.responses_before + transcript.meter.figures().responses,
        }))
    }
}

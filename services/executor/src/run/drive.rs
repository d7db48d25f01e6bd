//! Driving a started run: reading the CLI's output into progress until it ends, times out or
//! is stopped, and assembling its one result.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use ct_confine::bounded::{self, LineError};
use ct_domain::spend::Tokens;
use ct_git::TreeChanges;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::checkpointing::{CHECKPOINT_POLL, Due};
use super::{EventSender, MAX_OUTPUT_LINE, Run, Stop};
use crate::changes;
use crate::classify::{Ending, classify};
use crate::messages::{FailureKind, Progress, RunEvent, RunResult};
use crate::meter::Meter;
use crate::outlets::Outlets;
use crate::summary::truncate;
use crate::transcript::Transcript;

/// How much of the CLI's stderr is kept for failure messages.
const STDERR_TAIL: usize = 4096;
/// The longest word of the CLI's result line (its subtype, why it ended) kept for the log.
const LABEL_LIMIT: usize = 64;
/// How long to wait for the stderr reader once the process is gone.
const STDERR_DRAIN: Duration = Duration::from_secs(2);

impl Run {
    /// Takes in one whole line of the CLI's output; `Err` when nobody listens any more.
    pub(super) fn handle_line(&mut self, line: &[u8], transcript: &mut Transcript, tx: &EventSender) -> Result<(), ()> {
        let text = String::from_utf8_lossy(line);
        // Raw stream events repeat what the `assistant` lines hold, a line per text fragment:
        // the transcript does without them.
        if !text.starts_with(r#"{"type":"stream_event""#) {
            self.keep_raw(&text);
        }
        for progress in transcript.observe(&text, &self.project) {
            send_progress(tx, progress)?;
        }
        Ok(())
    }

    /// Appends a line of the CLI's output to the transcript, redacted.
    fn keep_raw(&mut self, line: &str) {
        use std::io::Write;
        if let Some(log) = &mut self.raw_log
            && let Err(err) = log.write_all(self.redactor.redact(line).as_bytes())
        {
            tracing::warn!(%err, "cannot keep the agent's transcript; continuing without it");
            self.raw_log = None;
        }
    }

    /// Reads the CLI's output until it ends, the time is up or `stop` fires (or the receiver
    /// goes away); sends progress on the way and, unless stopped, one result at the end. When
    /// this returns, every process of the run is dead.
    pub(crate) async fn drive(mut self, tx: EventSender, stop: CancellationToken) {
        let (Some(stdout), Some(stderr)) = (self.child.stdout.take(), self.child.stderr.take()) else {
            unreachable!("the command is built with piped stdout and stderr");
        };
        let stderr_tail = tokio::spawn(tail(stderr, STDERR_TAIL));
        let mut stdout = BufReader::new(stdout);
        let deadline = tokio::time::Instant::from_std(self.started + self.timeout);
        let mut transcript = Transcript::new(self.redactor.clone(), Meter::today(self.prices.clone()));
        let mut line = Vec::new();
        let mut stdout_open = true;
        let mut exited = false;
        // Stays `None` if the CLI's status could not be collected.
        let mut exit: Option<ExitStatus> = None;
        // The checkpoint owed since the last tool result.
        let mut due: Option<Due> = None;

        let stop = 'read: loop {
            if exited && !stdout_open {
                break Stop::Finished;
            }
            tokio::select! {
                // `read_line` keeps partial input in `line` when another branch wins, so the
                // buffer is only cleared after a whole line was handled.
                read = bounded::read_line(&mut stdout, &mut line, MAX_OUTPUT_LINE), if stdout_open => {
                    match read {
                        Ok(0) => stdout_open = false,
                        Ok(_) => {
                            let handled = self.handle_line(&line, &mut transcript, &tx);
                            line.clear();
                            if handled.is_err() {
                                break 'read Stop::Stopped;
                            }
                            if let Some(at) = transcript.tool_result_at.take() {
                                due = Some(Due { at, steps: transcript.tool_steps, since: Instant::now() });
                            } else if due.as_ref().is_some_and(|d| d.steps != transcript.tool_steps) {
                                tracing::debug!("the agent began another tool call before its conversation was written; no checkpoint");
                                due = None;
                            }
                        }
                        Err(LineError::TooLong { .. }) => break 'read Stop::Overflowed,
                        Err(LineError::Io(err)) => {
                            tracing::warn!(%err, "cannot read the agent's output");
                            stdout_open = false;
                        }
                    }
                }
                status = self.child.wait(), if !exited => {
                    exited = true;
                    exit = status
                        .inspect_err(|err| tracing::warn!(%err, "cannot wait for the agent CLI"))
                        .ok();
                    // Anything the CLI left running (a background shell) would keep stdout
                    // open forever and outlive the run.
                    let leftovers = self.guard.kill();
                    if leftovers > 0 {
                        tracing::info!(leftovers, "killed processes the agent left running");
                    }
                }
                () = tx.closed() => break Stop::Stopped,
                () = stop.cancelled() => break Stop::Stopped,
                () = tokio::time::sleep_until(tokio::time::Instant::now() + CHECKPOINT_POLL), if due.is_some() => {
                    let Some(checkpoint) = due.take() else { continue };
                    match self.checkpoint(checkpoint, &mut stdout, &mut line, &mut transcript, &tx).await {
                        Ok(later) => due = later,
                        Err(()) => break 'read Stop::Stopped,
                    }
                }
                () = tokio::time::sleep_until(deadline) => break Stop::TimedOut,
            }
        };

        if stop != Stop::Finished {
            let killed = self.guard.kill();
            tracing::info!(?stop, killed, "stopped the agent");
            if !exited {
                exit = self.child.wait().await.ok();
            }
        }
        if stop == Stop::Stopped {
            return;
        }

        let stderr_tail = match tokio::time::timeout(STDERR_DRAIN, stderr_tail).await {
            Ok(Ok(tail)) => self.redactor.redact_owned(tail),
            _ => String::new(),
        };
        let changes = self.changes().await;
        let result = self.result(&transcript, exit, stop, &stderr_tail, changes);
        log_result(&result);
        if transcript.result.is_some() {
            crate::meter::compare_with_cli(transcript.meter.cost_usd(), result.total_cost_usd, &result.model);
        }
        let _ = tx.send(RunEvent::Result(Box::new(result))).await;
    }

    async fn changes(&self) -> Option<TreeChanges> {
        let before = self.before.as_deref()?;
        let after = changes::snapshot(&self.project).await;
        let changes = match after {
            Ok(after) => changes::diff(&self.project, before, &after).await,
            Err(err) => Err(err),
        };
        changes.inspect_err(|err| tracing::warn!(%err, "cannot measure what the agent changed")).ok()
    }

    fn result(
        &self,
        transcript: &Transcript,
        exit: Option<ExitStatus>,
        stop: Stop,
        stderr_tail: &str,
        changes: Option<TreeChanges>,
    ) -> RunResult {
        let exit_code = exit.and_then(|status| status.code());
        let failure = classify(&Ending {
            exit_code,
            timed_out: (stop == Stop::TimedOut).then_some(self.timeout),
            line_over: (stop == Stop::Overflowed).then_some(MAX_OUTPUT_LINE),
            result: transcript.result.as_ref(),
            texts: &transcript.texts,
            stderr_tail,
        });
        let mut result = RunResult {
            failure,
            session_id: transcript.session_id.clone(),
            model: transcript.model(),
            // A signal death is reported the way shells do: 128 + signal number.
            exit_code: exit_code.or_else(|| exit.and_then(|s| s.signal()).map(|sig| 128 + sig)).unwrap_or(-1),
            changes,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            confinement: self.confinement.to_string(),
            refused: transcript
                .refusals
                .refused
                .iter()
                .cloned()
                .chain(self.outlets.iter().flat_map(Outlets::refused))
                .collect(),
            ..RunResult::default()
        };
        if let Some(failure) = &mut result.failure {
            failure.message = self.redactor.redact_owned(std::mem::take(&mut failure.message));
            if failure.kind == FailureKind::UsageLimit {
                result.usage_limit_resets_at = transcript.usage_limit_resets_at.unwrap_or(0);
            }
        }
        if let Some(r) = &transcript.result {
            result.result_text = self.redactor.redact_owned(r.result.clone().unwrap_or_default());
            result.is_error = r.is_error;
            result.subtype = cli_label(&self.redactor, r.subtype.as_str());
            result.terminal_reason = cli_label(&self.redactor, r.terminal_reason.as_deref().unwrap_or_default());
            result.api_error_status = r.api_error_status.map_or(0, u32::from);
            result.num_turns = u32::try_from(r.num_turns).unwrap_or(0);
            result.total_cost_usd = r.total_cost_usd;
            result.usage = r.usage.as_ref().map(|u| Tokens {
                input: u.input_tokens.into(),
                output: u.output_tokens.into(),
                cache_read: u.cache_read_input_tokens.into(),
                cache_write: u.cache_creation_input_tokens.into(),
            });
        }
        result
    }
}

/// A word of the CLI's result line as the log may show it: the CLI's output is the run's, so it
/// is redacted (before the cut, so no part of a secret shows) and cut short.
fn cli_label(redactor: &ct_confine::Redactor, word: &str) -> String {
    truncate(&redactor.redact(word), LABEL_LIMIT)
}

/// Progress is best-effort: a reader that falls behind loses some progress events rather than
/// stalling the agent (whose stdout would fill up) or delaying the timeout.
fn send_progress(tx: &EventSender, progress: Progress) -> Result<(), ()> {
    let event = RunEvent::Progress(progress);
    match tx.try_send(event) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::debug!("progress reader falls behind; dropped a progress event");
            Ok(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// The last `limit` bytes of a stream, as text.
async fn tail(mut reader: impl AsyncRead + Unpin, limit: usize) -> String {
    let mut kept = Vec::with_capacity(limit);
    let mut chunk = [0u8; 4096];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > limit {
                    kept.drain(..kept.len() - limit);
                }
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn log_result(result: &RunResult) {
    let usage = result.usage.unwrap_or_default();
    let failure = result.failure.as_ref().map(|f| format!("{}: {}", f.kind.name(), f.message)).unwrap_or_default();
    tracing::info!(
        success = result.succeeded(),
        failure,
        subtype = %result.subtype,
        terminal_reason = %result.terminal_reason,
        api_error_status = result.api_error_status,
        exit_code = result.exit_code,
        num_turns = result.num_turns,
        gen_ai.usage.input_tokens = usage.input,
        gen_ai.usage.output_tokens = usage.output,
        cost_usd = result.total_cost_usd,
        duration_ms = result.duration_ms,
        "agent finished"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_the_result_line_are_cut_short_and_redacted() {
        let redactor = ct_confine::Redactor::from_env(["sk-ant-secret-value".to_owned()]);
        let planted = format!("sk-ant-secret-value{}", "x".repeat(16 << 20));
        let label = cli_label(&redactor, &planted);
        assert!(label.chars().count() <= LABEL_LIMIT + 1, "{} chars", label.chars().count());
        assert!(!label.contains("sk-ant-secret-value"), "{label}");
        assert_eq!(cli_label(&redactor, "success"), "success");
    }

    #[tokio::test]
    async fn only_the_tail_of_a_long_stream_is_kept() {
        let input: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let kept = tail(&input[..], 100).await;
        assert_eq!(kept.as_bytes(), &input[input.len() - 100..]);
    }
}

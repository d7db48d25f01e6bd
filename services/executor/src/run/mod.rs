//! One agent run: preparing it (checks, private directories, the "before" snapshot, the
//! process: `start`) and driving it to exactly one `RunResult` (`drive`), with checkpoints on
//! the way (`checkpointing`).

mod checkpointing;
mod drive;
mod start;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_confine::{Confinement, Redactor, RunGuard};
use ct_domain::pricing::PriceTable;
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::mpsc;

use crate::Config;
use crate::messages::RunEvent;
use crate::outlets::Outlets;

/// The longest line of the CLI's output read: the CLI itself cuts tool output far shorter, so
/// only a broken or subverted CLI gets here, and the run ends rather than the executor's memory.
pub(crate) const MAX_OUTPUT_LINE: usize = 16 << 20;

pub(crate) type EventSender = mpsc::Sender<RunEvent>;

/// State shared by all runs of one executor. How many run at once is Temporal's to enforce
/// (the worker's activity slots), so nothing here counts them.
#[derive(Debug)]
pub(crate) struct Runner {
    pub(crate) config: Config,
}

/// A started run: the CLI is running and owes us a result.
#[derive(Debug)]
pub(crate) struct Run {
    project: PathBuf,
    timeout: Duration,
    started: Instant,
    child: Child,
    /// The CLI's process group (its own pid), which a checkpoint pauses.
    group: Pid,
    /// The run's HOME, where the CLI keeps the conversation.
    home: PathBuf,
    /// Model responses of the conversation before this run resumed it.
    responses_before: u32,
    confinement: Confinement,
    redactor: Arc<Redactor>,
    // Declared before `_run_dir` so that the processes are dead before their HOME is removed.
    guard: RunGuard,
    /// The model relay and the other ways out of a run in namespaces.
    outlets: Option<Outlets>,
    before: Option<String>,
    // Held for its Drop, which removes HOME and TMPDIR.
    _run_dir: tempfile::TempDir,
    /// Where the raw output is kept, when the executor keeps transcripts.
    raw_log: Option<std::fs::File>,
    /// What the live figures are priced at.
    prices: Arc<PriceTable>,
}

/// Why reading the CLI's output stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The CLI exited and its output was read to the end.
    Finished,
    TimedOut,
    /// Whoever waits for the run stopped it (cancel, lost lease, kill, shutdown) or went away.
    Stopped,
    /// The CLI printed a line longer than [`MAX_OUTPUT_LINE`].
    Overflowed,
}

//! The metrics file shared by the metrics-sink, which appends to it, and the CLI's
//! `metrics` command, which sums it up: one JSON line per finished stage.

mod estimate;
mod line;
mod summary;

pub use estimate::{Estimate, StageHistory};
pub use line::MetricsLine;
pub use summary::{Failure, Summary, SummaryError, Totals, summarize};

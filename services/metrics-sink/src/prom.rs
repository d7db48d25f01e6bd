//! The Prometheus metrics served on `/metrics`.
//!
//! Counters start at zero with the process, as Prometheus expects (its
//! `rate()`/`increase()` handle restarts); the metrics file is the record
//! that lasts.

use ct_events::data::TestsCompleted;
use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use ct_metrics::MetricsLine;

pub(crate) struct Metrics {
    registry: Registry,
    stages: IntCounterVec,
    tokens: IntCounterVec,
    cost: CounterVec,
    duration: HistogramVec,
    tests: IntCounterVec,
    test_runs: IntCounterVec,
    malformed: IntCounter,
}

/// Label for a stage whose model was not reported.
const UNKNOWN: &str = "unknown";

impl Metrics {
    pub(crate) fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let stage_labels = ["workflow_kind", "stage", "model"];
        let stages = IntCounterVec::new(
            Opts::new("ct_stages_total", "Stages finished, by outcome (completed or failed)"),
            &["workflow_kind", "stage", "outcome"],
        )?;
        let tokens = IntCounterVec::new(
            Opts::new("ct_tokens_total", "Tokens used by finished stages (input, output and cache)"),
            &stage_labels,
        )?;
        let cost =
            CounterVec::new(Opts::new("ct_cost_usd_total", "US dollars spent by finished stages"), &stage_labels)?;
        // Agent stages take seconds to tens of minutes.
        let duration = HistogramVec::new(
            HistogramOpts::new("ct_stage_duration_seconds", "Wall time of finished stages")
                .buckets(vec![1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0]),
            &["workflow_kind", "stage"],
        )?;
        let tests = IntCounterVec::new(
            Opts::new("ct_tests_total", "Individual test results, by outcome (passed, failed, skipped)"),
            &["stage", "outcome"],
        )?;
        let test_runs = IntCounterVec::new(
            Opts::new("ct_test_runs_total", "Test runs, by result (pass or fail)"),
            &["stage", "result"],
        )?;
        let malformed = IntCounter::new(
            "ct_metrics_sink_malformed_messages_total",
            "Messages on the event subjects that were not valid events and were skipped",
        )?;
        for collector in [
            Box::new(stages.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(tokens.clone()),
            Box::new(cost.clone()),
            Box::new(duration.clone()),
            Box::new(tests.clone()),
            Box::new(test_runs.clone()),
            Box::new(malformed.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Self { registry, stages, tokens, cost, duration, tests, test_runs, malformed })
    }

    pub(crate) fn record_stage(&self, line: &MetricsLine) {
        let kind = line.workflow_kind.as_deref().unwrap_or(UNKNOWN);
        let model = line.model.as_deref().unwrap_or(UNKNOWN);
        let outcome = if line.error.is_some() { "failed" } else { "completed" };
        self.stages.with_label_values(&[kind, &line.stage, outcome]).inc();
        self.tokens.with_label_values(&[kind, &line.stage, model]).inc_by(line.tokens_used);
        if line.cost.is_finite() && line.cost >= 0.0 {
            self.cost.with_label_values(&[kind, &line.stage, model]).inc_by(line.cost);
        }
        self.duration.with_label_values(&[kind, &line.stage]).observe(line.duration_ms as f64 / 1000.0);
    }

    pub(crate) fn record_tests(&self, tests: &TestsCompleted) {
        let stage = tests.stage.as_str();
        let counts = tests.counts;
        for (outcome, count) in [("passed", counts.passed), ("failed", counts.failed), ("skipped", counts.skipped)] {
            self.tests.with_label_values(&[stage, outcome]).inc_by(u64::from(count));
        }
        let result = if counts.all_passed() { "pass" } else { "fail" };
        self.test_runs.with_label_values(&[stage, result]).inc();
    }

    pub(crate) fn record_malformed(&self) {
        self.malformed.inc();
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> prometheus::Result<Vec<u8>> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(buffer)
    }
}

impl ct_service::MetricsRender for Metrics {
    fn render(&self) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Metrics::render(self)?)
    }
}

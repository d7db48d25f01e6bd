//! The CloudEvents 1.0 envelope (JSON, structured mode) and the event types.
//!
//! On the wire an event is one JSON object:
//! `{"specversion":"1.0","id":…,"source":…,"type":"dev.claude-temporal.stage.completed",
//!   "subject":<workflow id>,"time":<RFC 3339>,"datacontenttype":"application/json","data":{…}}`.
//! The `type` attribute carries the reverse-DNS prefix [`TYPE_PREFIX`] the
//! CloudEvents spec recommends; NATS subjects, filters and logs use the short
//! name (`stage.completed`, [`EventType::as_str`]). `subject` is the workflow id.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::data::{
    AgentProgress, AgentStopping, ApprovalDecision, ApprovalRequested, ApprovalTimedOut, BudgetExhausted, BudgetRaised,
    BudgetWarning, ConflictPredicted, ConflictResolved, CostUpdated, FeatureHeldBack, FeatureMerged,
    IntegrationCompleted, IntegrationStarted, Snapshot, StageOutcome, StageStarted, TestsCompleted, WorkflowFinished,
    WorkflowStarted,
};

/// Prefix of the CloudEvents `type` attribute.
pub const TYPE_PREFIX: &str = "dev.claude-temporal.";
const SPEC_VERSION: &str = "1.0";
const CONTENT_TYPE: &str = "application/json";

// One list drives the type enum, its names and the typed payloads, so a new
// event type cannot be added to one and forgotten in another.
macro_rules! event_types {
    ($($variant:ident($payload:ty) = $name:literal,)+) => {
        /// What happened. [`EventType::as_str`] is the short name used in
        /// subjects and filters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }
        }

        /// An event's typed `data`; the variant decides the event type.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum EventData {
            $($variant($payload),)+
        }

        impl EventData {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventData::$variant(_) => EventType::$variant,)+
                }
            }

            pub fn workflow_id(&self) -> &str {
                match self {
                    $(EventData::$variant(data) => &data.workflow_id,)+
                }
            }

            /// Rebuilds typed data from its type and JSON form: producers that
            /// must stay deterministic (workflow code) hand events over as JSON.
            pub fn decode(kind: EventType, data: serde_json::Value) -> Result<Self, serde_json::Error> {
                Ok(match kind {
                    $(EventType::$variant => EventData::$variant(serde_json::from_value(data)?),)+
                })
            }
        }
    };
}

event_types! {
    WorkflowStarted(WorkflowStarted) = "workflow.started",
    WorkflowCompleted(WorkflowFinished) = "workflow.completed",
    WorkflowFailed(WorkflowFinished) = "workflow.failed",
    WorkflowCancelled(WorkflowFinished) = "workflow.cancelled",
    StageStarted(StageStarted) = "stage.started",
    StageCompleted(StageOutcome) = "stage.completed",
    StageFailed(StageOutcome) = "stage.failed",
    ApprovalRequested(ApprovalRequested) = "approval.requested",
    ApprovalGranted(ApprovalDecision) = "approval.granted",
    ApprovalRejected(ApprovalDecision) = "approval.rejected",
    ApprovalTimedOut(ApprovalTimedOut) = "approval.timed_out",
    AgentProgress(AgentProgress) = "agent.progress",
    AgentStopping(AgentStopping) = "agent.stopping",
    CostUpdated(CostUpdated) = "cost.updated",
    TestsCompleted(TestsCompleted) = "tests.completed",
    SnapshotCreated(Snapshot) = "snapshot.created",
    SnapshotRestored(Snapshot) = "snapshot.restored",
    BudgetWarning(BudgetWarning) = "budget.warning",
    BudgetExhausted(BudgetExhausted) = "budget.exhausted",
    BudgetRaised(BudgetRaised) = "budget.raised",
    ConflictPredicted(ConflictPredicted) = "conflict.predicted",
    IntegrationStarted(IntegrationStarted) = "integration.started",
    FeatureMerged(FeatureMerged) = "feature.merged",
    ConflictResolved(ConflictResolved) = "conflict.resolved",
    FeatureHeldBack(FeatureHeldBack) = "feature.held_back",
    IntegrationCompleted(IntegrationCompleted) = "integration.completed",
}

impl EventType {
    /// The CloudEvents `type` attribute.
    pub fn cloudevents_type(self) -> String {
        format!("{TYPE_PREFIX}{}", self.as_str())
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = DecodeError;

    /// Accepts the short name (`stage.completed`) or the CloudEvents type.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let short = name.strip_prefix(TYPE_PREFIX).unwrap_or(name);
        EventType::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == short)
            .ok_or_else(|| DecodeError::UnknownType(name.to_owned()))
    }
}

impl EventData {
    /// The stage the event is about, for the types that have one.
    pub fn stage(&self) -> Option<&str> {
        match self {
            EventData::WorkflowStarted(_)
            | EventData::WorkflowCompleted(_)
            | EventData::WorkflowFailed(_)
            | EventData::WorkflowCancelled(_) => None,
            EventData::StageStarted(data) => Some(&data.stage),
            EventData::StageCompleted(data) | EventData::StageFailed(data) => Some(&data.stage),
            EventData::ApprovalRequested(data) => Some(&data.stage),
            EventData::ApprovalGranted(data) | EventData::ApprovalRejected(data) => Some(&data.stage),
            EventData::ApprovalTimedOut(data) => Some(&data.stage),
            EventData::AgentProgress(data) => Some(&data.stage),
            EventData::AgentStopping(data) => Some(&data.stage),
            EventData::CostUpdated(data) => Some(&data.stage),
            EventData::TestsCompleted(data) => Some(&data.stage),
            EventData::SnapshotCreated(data) | EventData::SnapshotRestored(data) => data.stage.as_deref(),
            EventData::BudgetWarning(data) => Some(&data.stage),
            EventData::BudgetExhausted(data) => Some(&data.stage),
            EventData::BudgetRaised(data) => Some(&data.stage),
            EventData::ConflictPredicted(_)
            | EventData::IntegrationStarted(_)
            | EventData::FeatureMerged(_)
            | EventData::ConflictResolved(_)
            | EventData::FeatureHeldBack(_)
            | EventData::IntegrationCompleted(_) => None,
        }
    }
}

/// One event: the CloudEvents context attributes we vary plus typed data.
/// `specversion`, `type`, `subject` and `datacontenttype` follow from these.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    /// Unique per event; also the JetStream `Nats-Msg-Id` and the webhook id,
    /// so republishing or redelivering it never duplicates it downstream.
    pub id: String,
    /// The producing process, e.g. `/claude-temporal/worker`.
    pub source: String,
    pub time: DateTime<Utc>,
    pub data: EventData,
}

impl CloudEvent {
    /// A new event with a fresh time-ordered id (UUID v7) stamped now.
    pub fn new(source: impl Into<String>, data: EventData) -> Self {
        Self { id: uuid::Uuid::now_v7().to_string(), source: source.into(), time: Utc::now(), data }
    }

    /// Replaces the id: a producer that may run twice for one occurrence (a
    /// retried activity) derives the id from what it is about, so both runs
    /// publish the same id and JetStream keeps one.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    pub fn workflow_id(&self) -> &str {
        self.data.workflow_id()
    }

    /// The structured-mode JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let kind = self.event_type().cloudevents_type();
        let envelope = EnvelopeRef {
            specversion: SPEC_VERSION,
            id: &self.id,
            source: &self.source,
            kind: &kind,
            subject: self.workflow_id(),
            time: &self.time,
            datacontenttype: CONTENT_TYPE,
            data: &self.data,
        };
        // Plain structs with string keys: serde_json has no way to fail here.
        serde_json::to_vec(&envelope).expect("an event always serializes to JSON")
    }

    /// Reads a structured-mode JSON body, checking the envelope and decoding
    /// `data` by `type`.
    pub fn from_json(body: &[u8]) -> Result<Self, DecodeError> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(DecodeError::Json)?;
        if envelope.specversion != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(envelope.specversion));
        }
        if let Some(content_type) = envelope.datacontenttype
            && !content_type.starts_with(CONTENT_TYPE)
        {
            return Err(DecodeError::ContentType(content_type));
        }
        let kind: EventType = envelope.kind.parse()?;
        let data = EventData::decode(kind, envelope.data).map_err(|source| DecodeError::Data { kind, source })?;
        Ok(Self { id: envelope.id, source: envelope.source, time: envelope.time, data })
    }
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    subject: &'a str,
    time: &'a DateTime<Utc>,
    datacontenttype: &'static str,
    data: &'a EventData,
}

#[derive(Deserialize)]
struct Envelope {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    time: DateTime<Utc>,
    datacontenttype: Option<String>,
    data: serde_json::Value,
}

/// Why a message is not a claude-temporal event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is not a CloudEvents JSON envelope: {0}")]
    Json(#[source] serde_json::Error),
    #[error("unsupported CloudEvents specversion {0:?}; only \"1.0\" is read")]
    SpecVersion(String),
    #[error("unsupported datacontenttype {0:?}; events carry application/json")]
    ContentType(String),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("the data of a {kind} event does not match its schema: {source}")]
    Data {
        kind: EventType,
        #[source]
        source: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{TestCounts, TokenUsage};

    fn stage_completed() -> CloudEvent {
        CloudEvent::new(
            "/claude-temporal/worker",
            EventData::StageCompleted(StageOutcome {
                workflow_id: "develop-demo".into(),
                workflow_kind: "develop".into(),
                stage: "implement".into(),
                model: Some("claude-sonnet-4-5".into()),
                tokens: TokenUsage {
                    input_tokens: 1200,
                    output_tokens: 300,
                    cache_read_tokens: 0,
                    cache_write_tokens: 0,
                },
                cost_usd: 0.0081,
                duration_ms: 5400,
                files_modified: vec!["src/lib.rs".into()],
                files_truncated: false,
                lines_added: 42,
                lines_removed: 3,
                tests: Some(TestCounts { passed: 7, failed: 0, skipped: 1 }),
                error: None,
            }),
        )
    }

    #[test]
    fn the_envelope_carries_every_required_cloudevents_attribute() {
        let event = stage_completed();
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], event.id.as_str());
        assert_eq!(json["source"], "/claude-temporal/worker");
        assert_eq!(json["type"], "dev.claude-temporal.stage.completed");
        assert_eq!(json["subject"], "develop-demo");
        assert_eq!(json["datacontenttype"], "application/json");
        let time = json["time"].as_str().unwrap();
        assert!(DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert_eq!(json["data"]["tokens"]["input_tokens"], 1200);
        assert_eq!(json["data"]["tests"]["passed"], 7);
    }

    #[test]
    fn an_event_survives_the_round_trip() {
        let event = stage_completed();
        assert_eq!(CloudEvent::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn every_type_name_parses_back_in_short_and_cloudevents_form() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>().unwrap(), *kind);
            assert_eq!(kind.cloudevents_type().parse::<EventType>().unwrap(), *kind);
        }
    }

    #[test]
    fn bad_envelopes_are_errors_that_say_what_is_wrong() {
        let mut json: serde_json::Value = serde_json::from_slice(&stage_completed().to_json()).unwrap();
        json["type"] = "dev.claude-temporal.stage.exploded".into();
        let err = CloudEvent::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, DecodeError::UnknownType(_)), "{err}");

        json["type"] = "stage.completed".into();
        json["specversion"] = "0.3".into();
        let err = CloudEvent::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, DecodeError::SpecVersion(_)), "{err}");

        json["specversion"] = "1.0".into();
        json["data"]["tokens"] = "many".into();
        let err = CloudEvent::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("stage.completed"), "{err}");

        let err = CloudEvent::from_json(b"not json").unwrap_err();
        assert!(matches!(err, DecodeError::Json(_)), "{err}");
    }

    #[test]
    fn tests_completed_keeps_its_counts_at_the_top_of_data() {
        let event = CloudEvent::new(
            "/claude-temporal/test-runner",
            EventData::TestsCompleted(TestsCompleted {
                workflow_id: "w".into(),
                stage: "test".into(),
                framework: "pytest".into(),
                counts: TestCounts { passed: 3, failed: 1, skipped: 0 },
                duration_ms: 800,
                failures: vec!["test_split".into()],
            }),
        );
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["data"]["failed"], 1);
        assert_eq!(CloudEvent::from_json(&event.to_json()).unwrap(), event);
    }
}

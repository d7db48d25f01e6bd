//! Which event types a backend receives.
//!
//! A filter is a comma-separated list of patterns: an event type
//! (`approval.requested`), a family (`stage.*`), or everything (`*`); a
//! pattern after `!` excludes. An event passes when it matches some plain
//! pattern (or there are only exclusions) and no exclusion. Example:
//! `*,!agent.progress`. A pattern that matches no known type is rejected, so
//! a typo does not silently mute a backend.

use std::fmt;

use ct_events::EventType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Family(String),
    Exact(EventType),
}

impl Pattern {
    fn parse(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(Self::Any);
        }
        if let Some(family) = text.strip_suffix(".*") {
            let pattern = Self::Family(format!("{family}."));
            return EventType::ALL.iter().any(|kind| pattern.matches(*kind)).then_some(pattern);
        }
        text.parse().ok().map(Self::Exact)
    }

    fn matches(&self, kind: EventType) -> bool {
        match self {
            Self::Any => true,
            Self::Family(prefix) => kind.as_str().starts_with(prefix.as_str()),
            Self::Exact(exact) => *exact == kind,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Family(prefix) => write!(f, "{prefix}*"),
            Self::Exact(kind) => f.write_str(kind.as_str()),
        }
    }
}

/// The filter in its own syntax, for logs.
impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let included = self.include.iter().map(ToString::to_string);
        let excluded = self.exclude.iter().map(|pattern| format!("!{pattern}"));
        let all: Vec<String> = included.chain(excluded).collect();
        f.write_str(&all.join(","))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{pattern:?} matches no event type; use a type such as stage.completed, a family such as approval.*, or *")]
pub struct FilterError {
    pattern: String,
}

impl EventFilter {
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let mut filter = Self { include: Vec::new(), exclude: Vec::new() };
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (list, body) = match item.strip_prefix('!') {
                Some(body) => (&mut filter.exclude, body.trim()),
                None => (&mut filter.include, item),
            };
            let pattern = Pattern::parse(body).ok_or_else(|| FilterError { pattern: item.to_owned() })?;
            list.push(pattern);
        }
        if filter.include.is_empty() {
            filter.include.push(Pattern::Any);
        }
        Ok(filter)
    }

    pub fn matches(&self, kind: EventType) -> bool {
        self.include.iter().any(|pattern| pattern.matches(kind))
            && !self.exclude.iter().any(|pattern| pattern.matches(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing(filter: &str) -> Vec<&'static str> {
        let filter = EventFilter::parse(filter).unwrap();
        EventType::ALL.iter().filter(|kind| filter.matches(**kind)).map(|kind| kind.as_str()).collect()
    }

    #[test]
    fn exact_types_families_and_exclusions() {
        assert_eq!(passing("approval.requested"), ["approval.requested"]);
        assert_eq!(
            passing("stage.*, workflow.failed"),
            ["workflow.failed", "stage.started", "stage.completed", "stage.failed"]
        );
        let all_but_progress = passing("*,!agent.progress");
        assert_eq!(all_but_progress.len(), EventType::ALL.len() - 1);
        assert!(!all_but_progress.contains(&"agent.progress"));
        assert_eq!(passing("!approval.*,!workflow.*").len(), EventType::ALL.len() - 8);
        assert_eq!(passing("").len(), EventType::ALL.len());
    }

    #[test]
    fn a_filter_prints_in_its_own_syntax() {
        let filter = EventFilter::parse("stage.*, !stage.started,approval.requested").unwrap();
        assert_eq!(filter.to_string(), "stage.*,approval.requested,!stage.started");
    }

    #[test]
    fn cloudevents_type_names_are_accepted_too() {
        assert_eq!(passing("dev.claude-temporal.tests.completed"), ["tests.completed"]);
    }

    #[test]
    fn a_typo_is_an_error_naming_the_pattern() {
        let err = EventFilter::parse("stage.*,aproval.requested").unwrap_err();
        assert!(err.to_string().contains("aproval.requested"), "{err}");
        assert!(EventFilter::parse("nothing.*").is_err());
    }
}

//! The scenario file: which answers the model gives, turn by turn, to which prompts.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// Scripts tried in order; the first whose `match` occurs in the first user message wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scripts: Vec<Script>,
}

/// One conversation: the answer for each turn of a run whose prompt contains `match`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    /// Substring of the first user message; a script without one is the fallback.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    pub text: Option<String>,
    #[serde(default)]
    pub tool_uses: Vec<ToolUse>,
    #[serde(default)]
    pub usage: Usage,
    pub fail_first: Option<FailFirst>,
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolUse {
    pub name: String,
    /// Sent as the tool's input after `{cwd}` is replaced in every string.
    pub input: Value,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
}

/// Answer the first `times` requests of a turn with HTTP `status` and an Anthropic error body.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailFirst {
    pub status: u16,
    pub times: u32,
    /// With a 429: the refusal is a subscription's usage limit that resets this many seconds
    /// after the request (the API's `anthropic-ratelimit-unified-*` headers and `retry-after`).
    #[serde(default)]
    pub resets_in_secs: Option<u64>,
}

impl Scenario {
    pub fn from_file(path: &Path) -> Result<Scenario, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::ReadScenario { path: path.to_owned(), source })?;
        let scenario: Scenario =
            serde_json::from_str(&text).map_err(|source| Error::ParseScenario { path: path.to_owned(), source })?;
        scenario.validate().map_err(|reason| Error::InvalidScenario { origin: path.display().to_string(), reason })?;
        Ok(scenario)
    }

    pub fn from_json(json: &str) -> Result<Scenario, Error> {
        let scenario: Scenario = serde_json::from_str(json).map_err(Error::ParseScenarioJson)?;
        scenario.validate().map_err(|reason| Error::InvalidScenario { origin: "inline JSON".to_owned(), reason })?;
        Ok(scenario)
    }

    /// The script answering a conversation that starts with `first_user_text`, with its index.
    pub fn script_for(&self, first_user_text: &str) -> Option<(usize, &Script)> {
        self.scripts.iter().enumerate().find(|(_, s)| s.pattern.as_deref().is_none_or(|p| first_user_text.contains(p)))
    }

    // Serde accepts any u16, but a status the CLI cannot read as an error would make a
    // `fail_first` turn silently behave like a success.
    fn validate(&self) -> Result<(), String> {
        for script in &self.scripts {
            for (index, turn) in script.turns.iter().enumerate() {
                if let Some(fail) = turn.fail_first
                    && !(400..=599).contains(&fail.status)
                {
                    return Err(format!(
                        "script {:?} turn {index}: fail_first.status {} is not an HTTP error status (400-599)",
                        script.name, fail.status
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario::from_json(
            r#"{"scripts": [
                {"name": "scaffold", "match": "Stage: scaffold", "turns": []},
                {"name": "testing", "match": "Stage: testing", "turns": []},
                {"name": "fallback", "turns": []},
                {"name": "never", "match": "Stage: scaffold", "turns": []}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn first_matching_script_wins() {
        let scenario = scenario();
        let (index, script) = scenario.script_for("intro\nStage: scaffold\nmore").unwrap();
        assert_eq!((index, script.name.as_str()), (0, "scaffold"));
        assert_eq!(scenario.script_for("Stage: testing").unwrap().1.name, "testing");
    }

    #[test]
    fn script_without_match_is_the_fallback() {
        assert_eq!(scenario().script_for("Stage: other").unwrap().1.name, "fallback");
    }

    #[test]
    fn no_script_when_nothing_matches_and_no_fallback() {
        let scenario = Scenario::from_json(r#"{"scripts": [{"name": "a", "match": "A", "turns": []}]}"#).unwrap();
        assert!(scenario.script_for("B").is_none());
    }

    #[test]
    fn turn_fields_default() {
        let scenario = Scenario::from_json(
            r#"{"scripts": [{"name": "a", "turns": [{"text": "hi", "usage": {"input_tokens": 3, "output_tokens": 4}}]}]}"#,
        )
        .unwrap();
        let turn = &scenario.scripts[0].turns[0];
        assert!(turn.tool_uses.is_empty() && turn.fail_first.is_none());
        assert_eq!(turn.usage.cache_read_input_tokens, 0);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = Scenario::from_json(r#"{"scripts": [{"name": "a", "turns": [{"txt": "hi"}]}]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `txt`"), "{err}");
    }

    #[test]
    fn fail_first_needs_an_error_status() {
        let err = Scenario::from_json(
            r#"{"scripts": [{"name": "a", "turns": [{"fail_first": {"status": 200, "times": 1}}]}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not an HTTP error status"), "{err}");
    }

    #[test]
    fn bad_file_error_names_the_path_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{\"scripts\": [}").unwrap();
        let message = Scenario::from_file(&path).unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line 1 column 14"), "{message}");
    }
}

//! The executor's own bounds on a run, whatever the workflow asks: a workflow is input, and an
//! executor's operator decides how long and how far an agent may go on their machine.

use std::time::Duration;

use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Longest run allowed; longer requests are cut to this.
    pub max_timeout: Option<Duration>,
    /// Most turns allowed; more are cut to this.
    pub max_turns: Option<u32>,
    /// Models a run may use; empty allows any.
    pub allowed_models: Vec<String>,
}

impl Limits {
    pub(crate) fn timeout(&self, asked: Duration) -> Duration {
        self.max_timeout.map_or(asked, |max| asked.min(max))
    }

    pub(crate) fn turns(&self, asked: u32) -> u32 {
        self.max_turns.map_or(asked, |max| asked.min(max))
    }

    /// The empty model (the CLI's default) is always allowed.
    pub(crate) fn check_model(&self, model: &str) -> Result<(), Error> {
        if model.is_empty() || self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model) {
            Ok(())
        } else {
            Err(Error::ModelNotAllowed { model: model.to_owned(), allowed: self.allowed_models.join(", ") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_cut_to_the_limits_and_unlisted_models_refused() {
        let limits = Limits {
            max_timeout: Some(Duration::from_secs(60)),
            max_turns: Some(10),
            allowed_models: vec!["claude-sonnet-4-5".to_owned()],
        };
        assert_eq!(limits.timeout(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(limits.timeout(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(limits.turns(50), 10);
        assert!(limits.check_model("claude-sonnet-4-5").is_ok());
        assert!(limits.check_model("").is_ok());
        let err = limits.check_model("claude-opus-5-5").unwrap_err();
        assert!(err.to_string().contains("EXECUTOR_ALLOWED_MODELS"), "{err}");
        assert_eq!(Limits::default().turns(50), 50);
    }
}

//! Which backends to run, from the process's settings.

use crate::filter::{EventFilter, FilterError};
use crate::secret::{SecretError, SecretUrl, WebhookSecret};

/// Default filters: the console and webhooks get the lifecycle but not the
/// high-volume running updates (`claude-temporal watch` shows those); Slack
/// gets only what a person should act on or know about.
pub const DEFAULT_CONSOLE_EVENTS: &str = "*,!agent.progress,!cost.updated";
pub const DEFAULT_SLACK_EVENTS: &str = "workflow.completed,workflow.failed,workflow.cancelled,stage.failed,approval.requested,approval.timed_out,budget.warning,budget.exhausted";
pub const DEFAULT_WEBHOOK_EVENTS: &str = "*,!agent.progress,!cost.updated";

/// The raw settings (environment or flags). Deliberately not `Debug`: it
/// holds the webhook URLs and the signing secret.
#[derive(Clone)]
pub struct Settings {
    /// `NOTIFICATION_TYPE`: comma-separated `console`, `slack`, `webhook`.
    pub types: String,
    pub slack_webhook_url: Option<String>,
    pub slack_channel: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub console_events: String,
    pub slack_events: String,
    pub webhook_events: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            types: "console".to_owned(),
            slack_webhook_url: None,
            slack_channel: None,
            webhook_url: None,
            webhook_secret: None,
            console_events: DEFAULT_CONSOLE_EVENTS.to_owned(),
            slack_events: DEFAULT_SLACK_EVENTS.to_owned(),
            webhook_events: DEFAULT_WEBHOOK_EVENTS.to_owned(),
        }
    }
}

/// One configured backend. Its `Debug` shows redacted URLs only.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    Console { filter: EventFilter },
    Slack { url: SecretUrl, channel: Option<String>, filter: EventFilter },
    Webhook { url: SecretUrl, secret: WebhookSecret, filter: EventFilter },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("NOTIFICATION_TYPE: unknown backend {0:?}; use console, slack, webhook or a comma-separated list of them")]
    UnknownType(String),
    #[error("NOTIFICATION_TYPE is empty; use console, slack, webhook or a comma-separated list of them")]
    NoBackend,
    #[error("the {backend} backend needs {var}")]
    Missing { backend: &'static str, var: &'static str },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{var}: {source}")]
    Filter {
        var: &'static str,
        #[source]
        source: FilterError,
    },
}

impl Settings {
    pub fn backends(&self) -> Result<Vec<BackendConfig>, ConfigError> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.types.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            let name = name.to_ascii_lowercase();
            let known = ["console", "slack", "webhook"]
                .into_iter()
                .find(|known| *known == name)
                .ok_or_else(|| ConfigError::UnknownType(name.clone()))?;
            if !names.contains(&known) {
                names.push(known);
            }
        }
        if names.is_empty() {
            return Err(ConfigError::NoBackend);
        }
        names.into_iter().map(|name| self.backend(name)).collect()
    }

    fn backend(&self, name: &str) -> Result<BackendConfig, ConfigError> {
        let filter = |text: &str, var| EventFilter::parse(text).map_err(|source| ConfigError::Filter { var, source });
        Ok(match name {
            "slack" => BackendConfig::Slack {
                url: SecretUrl::parse(
                    required(&self.slack_webhook_url, "slack", "SLACK_WEBHOOK_URL")?,
                    "SLACK_WEBHOOK_URL",
                )?,
                channel: self.slack_channel.clone().filter(|channel| !channel.trim().is_empty()),
                filter: filter(&self.slack_events, "NOTIFY_SLACK_EVENTS")?,
            },
            "webhook" => BackendConfig::Webhook {
                url: SecretUrl::parse(
                    required(&self.webhook_url, "webhook", "NOTIFICATION_WEBHOOK_URL")?,
                    "NOTIFICATION_WEBHOOK_URL",
                )?,
                secret: WebhookSecret::parse(
                    required(&self.webhook_secret, "webhook", "NOTIFICATION_WEBHOOK_SECRET")?,
                    "NOTIFICATION_WEBHOOK_SECRET",
                )?,
                filter: filter(&self.webhook_events, "NOTIFY_WEBHOOK_EVENTS")?,
            },
            _ => BackendConfig::Console { filter: filter(&self.console_events, "NOTIFY_CONSOLE_EVENTS")? },
        })
    }
}

fn required<'a>(value: &'a Option<String>, backend: &'static str, var: &'static str) -> Result<&'a str, ConfigError> {
    value.as_deref().filter(|value| !value.trim().is_empty()).ok_or(ConfigError::Missing { backend, var })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn any_combination_of_backends_in_the_order_given() {
        let settings = Settings {
            types: "webhook, Console,slack,console".into(),
            slack_webhook_url: Some("https://hooks.slack.com/services/T/B/SECRET".into()),
            webhook_url: Some("https://example.com/hooks/SECRET".into()),
            webhook_secret: Some(SECRET.into()),
            ..Settings::default()
        };
        let backends = settings.backends().unwrap();
        assert_eq!(backends.len(), 3);
        assert!(matches!(backends[0], BackendConfig::Webhook { .. }));
        assert!(matches!(backends[1], BackendConfig::Console { .. }));
        assert!(matches!(backends[2], BackendConfig::Slack { .. }));
        let printed = format!("{backends:?}");
        assert!(!printed.contains("SECRET") && !printed.contains("MfKQ"), "{printed}");
    }

    #[test]
    fn missing_and_unknown_settings_are_named() {
        let slack = Settings { types: "slack".into(), ..Settings::default() };
        assert_eq!(slack.backends().unwrap_err().to_string(), "the slack backend needs SLACK_WEBHOOK_URL");
        let webhook = Settings {
            types: "webhook".into(),
            webhook_url: Some("https://example.com/h".into()),
            ..Settings::default()
        };
        assert!(webhook.backends().unwrap_err().to_string().contains("NOTIFICATION_WEBHOOK_SECRET"));
        let unknown = Settings { types: "console,email".into(), ..Settings::default() };
        assert!(unknown.backends().unwrap_err().to_string().contains("\"email\""));
        let empty = Settings { types: " , ".into(), ..Settings::default() };
        assert!(matches!(empty.backends(), Err(ConfigError::NoBackend)));
        let bad_filter = Settings { console_events: "stage.complete".into(), ..Settings::default() };
        assert!(bad_filter.backends().unwrap_err().to_string().starts_with("NOTIFY_CONSOLE_EVENTS"));
    }

    fn configured_default(key: &str) -> &'static str {
        ct_config::KEYS.iter().find(|def| def.key == key).map(|def| def.default).unwrap()
    }

    #[test]
    fn the_filters_default_to_what_the_configuration_says() {
        assert_eq!(DEFAULT_CONSOLE_EVENTS, configured_default(ct_config::key::CONSOLE_EVENTS));
        assert_eq!(DEFAULT_SLACK_EVENTS, configured_default(ct_config::key::SLACK_EVENTS));
        assert_eq!(DEFAULT_WEBHOOK_EVENTS, configured_default(ct_config::key::WEBHOOK_EVENTS));
    }
}

//! Which backends to run, from the process's settings.

use ct_config::{NotificationSettings, Secret};

use crate::filter::{EventFilter, FilterError};
use crate::secret::{SecretError, SecretUrl, WebhookSecret};

/// One configured backend. Its `Debug` shows redacted URLs only.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    Console {
        filter: EventFilter,
        /// Print approval requests' links: whoever reads the console (its log) could use them.
        show_links: bool,
    },
    Slack {
        url: SecretUrl,
        channel: Option<String>,
        filter: EventFilter,
    },
    Webhook {
        url: SecretUrl,
        secret: WebhookSecret,
        filter: EventFilter,
    },
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

/// The backends `settings` name, each with its filter, in the order given; an unknown or
/// incomplete one is refused, naming the setting to fix.
pub fn backends(settings: &NotificationSettings) -> Result<Vec<BackendConfig>, ConfigError> {
    let mut names: Vec<&str> = Vec::new();
    for name in settings.types.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
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
    names.into_iter().map(|name| backend(settings, name)).collect()
}

fn backend(settings: &NotificationSettings, name: &str) -> Result<BackendConfig, ConfigError> {
    let filter = |text: &str, var| EventFilter::parse(text).map_err(|source| ConfigError::Filter { var, source });
    Ok(match name {
        "slack" => BackendConfig::Slack {
            url: SecretUrl::parse(
                required(&settings.slack_webhook_url, "slack", "SLACK_WEBHOOK_URL")?,
                "SLACK_WEBHOOK_URL",
            )?,
            channel: settings.slack_channel.clone().filter(|channel| !channel.trim().is_empty()),
            filter: filter(&settings.slack_events, "NOTIFY_SLACK_EVENTS")?,
        },
        "webhook" => BackendConfig::Webhook {
            url: SecretUrl::parse(
                required(&settings.webhook_url, "webhook", "NOTIFICATION_WEBHOOK_URL")?,
                "NOTIFICATION_WEBHOOK_URL",
            )?,
            secret: WebhookSecret::parse(
                required(&settings.webhook_secret, "webhook", "NOTIFICATION_WEBHOOK_SECRET")?,
                "NOTIFICATION_WEBHOOK_SECRET",
            )?,
            filter: filter(&settings.webhook_events, "NOTIFY_WEBHOOK_EVENTS")?,
        },
        _ => BackendConfig::Console {
            filter: filter(&settings.console_events, "NOTIFY_CONSOLE_EVENTS")?,
            show_links: settings.console_links,
        },
    })
}

fn required<'a>(value: &'a Option<Secret>, backend: &'static str, var: &'static str) -> Result<&'a str, ConfigError> {
    value
        .as_ref()
        .map(Secret::expose)
        .filter(|value| !value.trim().is_empty())
        .ok_or(ConfigError::Missing { backend, var })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn configured_default(key: &str) -> String {
        ct_config::KEYS.iter().find(|def| def.key == key).map(|def| def.default.to_owned()).unwrap()
    }

    /// The settings with `types` and the configuration's defaults for the rest.
    fn settings(types: &str) -> NotificationSettings {
        NotificationSettings {
            types: types.split(',').map(str::to_owned).collect(),
            slack_webhook_url: None,
            slack_channel: None,
            webhook_url: None,
            webhook_secret: None,
            console_events: configured_default(ct_config::key::CONSOLE_EVENTS),
            slack_events: configured_default(ct_config::key::SLACK_EVENTS),
            webhook_events: configured_default(ct_config::key::WEBHOOK_EVENTS),
            max_attempts: 5,
            console_links: false,
        }
    }

    #[test]
    fn any_combination_of_backends_in_the_order_given() {
        let settings = NotificationSettings {
            slack_webhook_url: Some(Secret::new("https://hooks.slack.com/services/T/B/SECRET")),
            webhook_url: Some(Secret::new("https://example.com/hooks/SECRET")),
            webhook_secret: Some(Secret::new(SECRET)),
            ..settings("webhook, Console,slack,console")
        };
        let backends = backends(&settings).unwrap();
        assert_eq!(backends.len(), 3);
        assert!(matches!(backends[0], BackendConfig::Webhook { .. }));
        assert!(matches!(backends[1], BackendConfig::Console { .. }));
        assert!(matches!(backends[2], BackendConfig::Slack { .. }));
        let printed = format!("{backends:?}");
        assert!(!printed.contains("SECRET") && !printed.contains("MfKQ"), "{printed}");
    }

    #[test]
    fn missing_and_unknown_settings_are_named() {
        let slack = settings("slack");
        assert_eq!(backends(&slack).unwrap_err().to_string(), "the slack backend needs SLACK_WEBHOOK_URL");
        let webhook =
            NotificationSettings { webhook_url: Some(Secret::new("https://example.com/h")), ..settings("webhook") };
        assert!(backends(&webhook).unwrap_err().to_string().contains("NOTIFICATION_WEBHOOK_SECRET"));
        let unknown = settings("console,email");
        assert!(backends(&unknown).unwrap_err().to_string().contains("\"email\""));
        let empty = settings(" , ");
        assert!(matches!(backends(&empty), Err(ConfigError::NoBackend)));
        let bad_filter = NotificationSettings { console_events: "stage.complete".into(), ..settings("console") };
        assert!(backends(&bad_filter).unwrap_err().to_string().starts_with("NOTIFY_CONSOLE_EVENTS"));
    }
}

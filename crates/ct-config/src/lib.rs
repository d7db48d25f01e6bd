//! claude-temporal's configuration.
//!
//! Settings are resolved per key through layers, lowest first: built-in default → preset
//! (`CLAUDE_TEMPORAL_ENV`: development, staging, production) → config file (`--config FILE`,
//! else `./claude-temporal.toml`, else `$XDG_CONFIG_HOME/claude-temporal/config.toml`) →
//! `.env` in the current directory → environment → command-line flags. Every value keeps the
//! layer it came from, so `claude-temporal config show` can say why a setting has its value.
//! Invalid values are refused with the key, the source and the reason.
//!
//! Stage files (`<project>/.claude-temporal.toml`, `--stages FILE`) are read here too: they are
//! configuration written by users, and their errors carry file and line the same way.

mod binaries;
mod check;
mod dotenv;
mod environment;
mod file;
mod keys;
mod load;
mod presets;
mod prices;
mod service;
mod settings;
pub mod show;
pub mod stages;

use std::fmt;
use std::path::PathBuf;

pub use environment::Environment;
pub use keys::{KEYS, KeyDef, Secrecy, Service, key};
pub use load::{Config, Entry, Flag, Source, Sources, load, redact};
pub use prices::load_prices;
pub use service::{ConfigArgs, TemporalArgs};
pub use settings::{
    ClaudeSettings, ExecutorSettings, GatewaySettings, NotificationSettings, SandboxSettings, Secret, Settings,
    TemporalSettings, TestRunnerSettings, WorkerSettings, WorkflowSettings,
};

/// A value that failed its check. `value` is already redacted when the key is a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} = `{}` (from {}): {}", self.key, self.value, self.source, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {reason}")]
    File { path: PathBuf, line: usize, reason: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Invalid>),
    /// A program passed a flag for a setting that does not exist: a bug, reported plainly.
    #[error("flag {flag} sets unknown setting `{key}`")]
    UnknownFlagKey { flag: &'static str, key: &'static str },
    #[error(transparent)]
    Template(#[from] ct_domain::templates::TemplateError),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Scratch {
        dir: tempfile::TempDir,
    }

    impl Scratch {
        fn new() -> Scratch {
            Scratch { dir: tempfile::tempdir().unwrap() }
        }

        fn sources(&self, env: &[(&str, &str)], flags: &[(&'static str, &str)]) -> Sources {
            let mut vars: BTreeMap<String, String> =
                env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            // Keep the user's real config out of the tests.
            vars.entry("XDG_CONFIG_HOME".to_owned())
                .or_insert_with(|| self.dir.path().join("xdg").display().to_string());
            Sources {
                config_file: None,
                cwd: self.dir.path().to_path_buf(),
                env: vars,
                flags: flags
                    .iter()
                    .map(|(key, value)| Flag { key, value: (*value).to_owned(), flag: "--test-flag" })
                    .collect(),
            }
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    fn entry<'a>(config: &'a Config, key: &str) -> &'a Entry {
        config.entries.iter().find(|e| e.key == key).unwrap()
    }

    #[test]
    fn each_layer_beats_the_ones_below_it() {
        let scratch = Scratch::new();
        let file = scratch.write("claude-temporal.toml", "[claude]\nmax_tokens = 1000\n");
        let dotenv = scratch.write(".env", "# local\nCLAUDE_MAX_TOKENS=2000\n");
        let env = [("CLAUDE_MAX_TOKENS", "3000")];
        let flag = [(key::CLAUDE_MAX_TOKENS, "4000")];

        let shown = |sources: Sources| {
            let config = load(&sources).unwrap();
            let e = entry(&config, key::CLAUDE_MAX_TOKENS);
            (e.value.clone(), e.source.to_string(), config.settings.claude.max_tokens)
        };
        assert_eq!(shown(scratch.sources(&env, &flag)), ("4000".into(), "flag --test-flag".into(), 4000));
        assert_eq!(shown(scratch.sources(&env, &[])), ("3000".into(), "env CLAUDE_MAX_TOKENS".into(), 3000));
        assert_eq!(shown(scratch.sources(&[], &[])), ("2000".into(), format!(".env {}:2", dotenv.display()), 2000));
        std::fs::remove_file(&dotenv).unwrap();
        assert_eq!(shown(scratch.sources(&[], &[])), ("1000".into(), format!("file {}:2", file.display()), 1000));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(shown(scratch.sources(&[], &[])), ("16000".into(), "preset development".into(), 16000));
        let config = load(&scratch.sources(&[], &[])).unwrap();
        assert_eq!(entry(&config, key::TEMPORAL_ADDRESS).source, Source::Default);
        assert_eq!(entry(&config, key::ENVIRONMENT).value, "development");
    }

    #[test]
    fn the_environment_picks_the_preset_and_may_come_from_any_layer() {
        let scratch = Scratch::new();
        let config = load(&scratch.sources(&[("CLAUDE_TEMPORAL_ENV", "production")], &[])).unwrap();
        assert_eq!(config.settings.environment, Environment::Production);
        assert_eq!(config.settings.workflow.approval_timeout_secs, 86400);
        assert_eq!(entry(&config, key::APPROVAL_TIMEOUT_SECS).source, Source::Preset(Environment::Production));
        scratch.write("claude-temporal.toml", "environment = \"staging\"\n");
        let config = load(&scratch.sources(&[], &[])).unwrap();
        assert_eq!(config.settings.claude.max_turns, 40);
    }

    #[test]
    fn the_user_config_is_read_when_the_directory_has_none_and_an_explicit_one_must_exist() {
        let scratch = Scratch::new();
        let user = scratch.write("xdg/claude-temporal/config.toml", "[temporal]\nnamespace = \"team\"\n");
        let config = load(&scratch.sources(&[], &[])).unwrap();
        assert_eq!(config.settings.temporal.namespace, "team");
        assert_eq!(config.config_file.as_deref(), Some(user.as_path()));

        let mut sources = scratch.sources(&[], &[]);
        sources.config_file = Some(scratch.dir.path().join("missing.toml"));
        let err = load(&sources).unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
    }

    #[test]
    fn invalid_values_are_refused_with_key_source_and_reason_and_secrets_stay_hidden() {
        let scratch = Scratch::new();
        scratch.write(".env", "NOTIFICATION_WEBHOOK_URL=ftp://hooks.example.com/secret-token\n");
        let err = load(&scratch.sources(&[("CLAUDE_MAX_TOKENS", "lots"), ("TEMPORAL_ADDRESS", "temporal")], &[]))
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("invalid temporal.address = `temporal` (from env TEMPORAL_ADDRESS): expected host:port"),
            "{message}"
        );
        assert!(
            message
                .contains("invalid claude.max_tokens = `lots` (from env CLAUDE_MAX_TOKENS): expected a whole number"),
            "{message}"
        );
        assert!(message.contains("invalid notification.webhook_url = `ftp://hooks.example.com/***`"), "{message}");
        assert!(!message.contains("secret-token"), "{message}");

        let err = load(&scratch.sources(&[("CLAUDE_TEMPORAL_ENV", "qa")], &[])).unwrap_err();
        assert!(err.to_string().contains("expected development, staging or production"));
    }

    #[test]
    fn config_file_mistakes_name_file_and_line() {
        let scratch = Scratch::new();
        let path = scratch.write("claude-temporal.toml", "[claude]\nmodel = \"m\"\ntemprature = 0.5\n");
        let err = load(&scratch.sources(&[], &[])).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("{}:3: unknown key `claude.temprature`", path.display())),
            "{err}"
        );
    }

    #[test]
    fn a_service_sees_its_own_settings_and_gets_what_is_not_default_in_its_environment() {
        let scratch = Scratch::new();
        let file = scratch.write(
            "claude-temporal.toml",
            "metrics_file = \"/data/m.jsonl\"\n[executor]\nmax_concurrent = 4\n[notification]\nwebhook_secret = \"whsec_ZmlsZXNlY3JldA==\"\n",
        );
        let mut sources = scratch.sources(
            &[("EXECUTOR_MAX_CONCURRENT", "5"), ("NATS_URL", "nats://u:hunter2@nats:4222")],
            &[("executor.max_concurrent", "6")],
        );
        sources.config_file = Some(file.clone());
        let config = load(&sources).unwrap();
        let executor: Vec<&str> = config.entries_for(Service::Executor).map(|e| e.key).collect();
        assert!(executor.contains(&key::EXECUTOR_MAX_CONCURRENT) && !executor.contains(&key::WEBHOOK_SECRET));
        // flag > env > file
        assert_eq!(config.settings.executor.max_concurrent, 6);
        assert_eq!(entry(&config, key::EXECUTOR_MAX_CONCURRENT).source.kind(), "flag");
        assert_eq!(entry(&config, key::NATS_URL).value, "nats://***@nats:4222");
        let env = config.environment_for(Service::Notifier);
        assert!(env.contains(&("NOTIFICATION_WEBHOOK_SECRET", "whsec_ZmlsZXNlY3JldA==".to_owned())), "{env:?}");
        assert!(!env.iter().any(|(name, _)| *name == "METRICS_FILE"), "the notifier does not read it");
        let sink = config.environment_for(Service::MetricsSink);
        assert!(sink.contains(&("METRICS_FILE", "/data/m.jsonl".to_owned())), "{sink:?}");
        assert!(!format!("{config:?}").contains("ZmlsZXNlY3JldA"), "Debug shows a secret");

        let mut env_only = scratch.sources(&[("EXECUTOR_MAX_CONCURRENT", "5")], &[]);
        env_only.config_file = Some(file);
        let config = load(&env_only).unwrap();
        assert_eq!(config.settings.executor.max_concurrent, 5);
        assert_eq!(entry(&config, key::EXECUTOR_MAX_CONCURRENT).source.to_string(), "env EXECUTOR_MAX_CONCURRENT");
    }

    #[test]
    fn secrets_are_redacted_and_temperature_is_reported_as_unsupported() {
        let scratch = Scratch::new();
        let config = load(&scratch.sources(
            &[
                ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/xyz"),
                ("NOTIFICATION_WEBHOOK_URL", "https://user:pw@ci.example.com/hook?token=abc"),
                ("NOTIFICATION_WEBHOOK_SECRET", "whsec_c2VjcmV0"),
                ("NOTIFICATION_TYPE", "console,webhook,slack"),
                ("CLAUDE_TEMPERATURE", "0.2"),
            ],
            &[],
        ))
        .unwrap();
        assert_eq!(entry(&config, key::SLACK_WEBHOOK_URL).value, "https://hooks.slack.com/***");
        assert_eq!(entry(&config, key::WEBHOOK_URL).value, "https://ci.example.com/***");
        assert_eq!(entry(&config, key::WEBHOOK_SECRET).value, "***");
        let debug = format!("{:?}", config.settings);
        assert!(!debug.contains("xyz") && !debug.contains("whsec_") && !debug.contains("pw@"), "{debug}");
        assert_eq!(config.settings.notification.webhook_secret.as_ref().unwrap().expose(), "whsec_c2VjcmV0");
        assert_eq!(config.settings.claude.temperature, Some(0.2));
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        assert!(config.warnings[0].contains("claude.temperature = 0.2 (from env CLAUDE_TEMPERATURE) is not supported"));
    }

    #[test]
    fn empty_environment_variables_count_as_unset() {
        let scratch = Scratch::new();
        let config = load(&scratch.sources(&[("CLAUDE_TIMEOUT", "")], &[])).unwrap();
        assert_eq!(entry(&config, key::CLAUDE_TIMEOUT_SECS).source, Source::Preset(Environment::Development));
    }
}

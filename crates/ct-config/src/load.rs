//! Resolving every setting through the layers, lowest first: default → preset (chosen by
//! `environment`) → config file → `.env` → environment → flags. Each value remembers where
//! it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::environment::Environment;
use crate::keys::{self, KEYS, KeyDef, Secrecy, Service, key};
use crate::settings::{Secret, Settings};
use crate::{ConfigError, Invalid, dotenv, file, presets};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    Preset(Environment),
    File { path: PathBuf, line: usize },
    DotEnv { path: PathBuf, line: usize },
    Env(&'static str),
    Flag(&'static str),
}

impl Source {
    /// The layer, as `config show --json` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Preset(_) => "preset",
            Source::File { .. } => "file",
            Source::DotEnv { .. } => "dotenv",
            Source::Env(_) => "env",
            Source::Flag(_) => "flag",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Preset(env) => write!(f, "preset {}", env.name()),
            Source::File { path, line } => write!(f, "file {}:{line}", path.display()),
            Source::DotEnv { path, line } => write!(f, ".env {}:{line}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A value given on the command line.
#[derive(Debug, Clone)]
pub struct Flag {
    /// One of [`crate::key`].
    pub key: &'static str,
    pub value: String,
    /// As the user typed it, e.g. `--max-output-tokens`.
    pub flag: &'static str,
}

impl Flag {
    /// The flag `flag` for `key`, when it was given.
    pub fn given(key: &'static str, flag: &'static str, value: Option<impl ToString>) -> Option<Flag> {
        value.map(|value| Flag { key, value: value.to_string(), flag })
    }

    /// A repeatable path flag for a `:`-separated list setting, when given at least once.
    pub fn given_paths(key: &'static str, flag: &'static str, paths: &[PathBuf]) -> Option<Flag> {
        let joined = std::env::join_paths(paths).ok()?;
        Flag::given(key, flag, Some(joined.to_string_lossy()).filter(|v| !v.is_empty()))
    }
}

/// Everything the configuration is read from. Tests build one by hand; programs use
/// [`Sources::from_process`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// An explicit config file (`--config`); it must exist.
    pub config_file: Option<PathBuf>,
    /// Where `.env` and `./claude-temporal.toml` are looked for.
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub flags: Vec<Flag>,
}

impl Sources {
    pub fn from_process(config_file: Option<PathBuf>, flags: Vec<Flag>) -> Result<Sources, ConfigError> {
        let cwd = std::env::current_dir().map_err(|source| ConfigError::Read { path: PathBuf::from("."), source })?;
        let env =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
        Ok(Sources { config_file, cwd, env, flags })
    }

    /// The config files looked for when none is named: the project-local one first, then
    /// the user's.
    pub fn config_candidates(&self) -> Vec<PathBuf> {
        let mut candidates = vec![self.cwd.join("claude-temporal.toml")];
        let xdg = self
            .env
            .get("XDG_CONFIG_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| self.env.get("HOME").map(|home| Path::new(home).join(".config")));
        if let Some(dir) = xdg {
            candidates.push(dir.join("claude-temporal").join("config.toml"));
        }
        candidates
    }
}

/// One setting as resolved, for `config show`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: &'static str,
    pub env: &'static str,
    /// Redacted when the setting is a secret.
    pub value: String,
    pub source: Source,
    pub help: &'static str,
    pub used_by: &'static [Service],
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    /// Every setting in table order, with its source.
    pub entries: Vec<Entry>,
    /// Settings that were accepted but cannot take effect, or contradict each other.
    pub warnings: Vec<String>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The `.env` file that was read, if any.
    pub dotenv_file: Option<PathBuf>,
    /// Where a config file was looked for when none was named and none was found.
    pub config_candidates: Vec<PathBuf>,
    /// Every value as given, for handing on to the processes that use it.
    values: BTreeMap<&'static str, Secret>,
}

impl Config {
    /// The settings `service` reads, in table order.
    pub fn entries_for(&self, service: Service) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |entry| entry.used_by.contains(&service))
    }

    /// What a process started for `service` needs in its environment to run with these
    /// settings: every setting of it that is not its default, under its variable. Secrets
    /// travel this way, never on a command line that `ps` shows.
    pub fn environment_for(&self, service: Service) -> Vec<(&'static str, String)> {
        self.entries_for(service)
            .filter(|entry| entry.source != Source::Default)
            .map(|entry| (entry.env, self.values[entry.key].expose().to_owned()))
            .collect()
    }
}

struct Layers {
    flags: Vec<Flag>,
    env: BTreeMap<String, String>,
    dotenv: Option<(PathBuf, Vec<dotenv::Assignment>)>,
    file: Option<(PathBuf, Vec<file::FileValue>)>,
}

impl Layers {
    /// The highest layer above the preset that sets `def`.
    fn above_preset(&self, def: &KeyDef) -> Option<(String, Source)> {
        if let Some(flag) = self.flags.iter().rev().find(|f| f.key == def.key) {
            return Some((flag.value.clone(), Source::Flag(flag.flag)));
        }
        // An empty variable counts as unset, as in most tools that read the environment.
        if let Some(value) = self.env.get(def.env).filter(|v| !v.is_empty()) {
            return Some((value.clone(), Source::Env(def.env)));
        }
        if let Some((path, assignments)) = &self.dotenv
            && let Some(a) = assignments.iter().rev().find(|a| a.name == def.env && !a.value.is_empty())
        {
            return Some((a.value.clone(), Source::DotEnv { path: path.clone(), line: a.line }));
        }
        if let Some((path, values)) = &self.file
            && let Some(v) = values.iter().find(|v| v.key == def.key)
        {
            return Some((v.value.clone(), Source::File { path: path.clone(), line: v.line }));
        }
        None
    }
}

pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    for flag in &sources.flags {
        if keys::def(flag.key).is_none() {
            return Err(ConfigError::UnknownFlagKey { flag: flag.flag, key: flag.key });
        }
    }
    let config_path = match &sources.config_file {
        Some(path) => Some(path.clone()),
        None => sources.config_candidates().into_iter().find(|path| path.is_file()),
    };
    let file = match config_path {
        Some(path) => {
            let text = read(&path)?;
            let values = file::read(&text).map_err(|problem| ConfigError::File {
                path: path.clone(),
                line: problem.line,
                reason: problem.reason,
            })?;
            Some((path, values))
        }
        None => None,
    };
    let dotenv_path = sources.cwd.join(".env");
    let dotenv = if dotenv_path.is_file() {
        let text = read(&dotenv_path)?;
        let assignments = dotenv::parse(&text).map_err(|problem| ConfigError::File {
            path: dotenv_path.clone(),
            line: problem.line,
            reason: problem.reason,
        })?;
        Some((dotenv_path, assignments))
    } else {
        None
    };
    let layers = Layers { flags: sources.flags.clone(), env: sources.env.clone(), dotenv, file };

    let environment_def = keys::def(key::ENVIRONMENT).expect("environment is a key");
    let (environment_value, environment_source) =
        layers.above_preset(environment_def).unwrap_or_else(|| (environment_def.default.to_owned(), Source::Default));
    let environment = Environment::parse(&environment_value).map_err(|reason| {
        ConfigError::Invalid(vec![Invalid {
            key: key::ENVIRONMENT,
            value: environment_value.clone(),
            source: environment_source.clone(),
            reason,
        }])
    })?;
    let preset = presets::values(environment);

    let mut resolved: BTreeMap<&'static str, (String, Source)> = BTreeMap::new();
    let mut problems = Vec::new();
    for def in KEYS {
        let (value, source) = if def.key == key::ENVIRONMENT {
            (environment.name().to_owned(), environment_source.clone())
        } else if let Some(found) = layers.above_preset(def) {
            found
        } else if let Some(v) = preset.iter().find(|v| v.key == def.key) {
            (v.value.clone(), Source::Preset(environment))
        } else {
            (def.default.to_owned(), Source::Default)
        };
        if let Err(reason) = def.kind.check(&value) {
            problems.push(Invalid { key: def.key, value: redact(def.secrecy, &value), source: source.clone(), reason });
        }
        resolved.insert(def.key, (value, source));
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }

    let settings =
        Settings::from_resolved(environment, |key| resolved.get(key).map_or("", |(value, _)| value.as_str()));
    let warnings = warnings(&settings, &resolved);
    let entries = KEYS
        .iter()
        .map(|def| {
            let (value, source) = resolved[def.key].clone();
            Entry {
                key: def.key,
                env: def.env,
                value: redact(def.secrecy, &value),
                source,
                help: def.help,
                used_by: def.used_by,
            }
        })
        .collect();
    Ok(Config {
        settings,
        entries,
        warnings,
        config_file: layers.file.map(|(path, _)| path),
        dotenv_file: layers.dotenv.map(|(path, _)| path),
        config_candidates: if sources.config_file.is_some() { Vec::new() } else { sources.config_candidates() },
        values: resolved.into_iter().map(|(key, (value, _))| (key, Secret::new(value))).collect(),
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

fn warnings(settings: &Settings, resolved: &BTreeMap<&'static str, (String, Source)>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(temperature) = settings.claude.temperature {
        let source = &resolved[key::CLAUDE_TEMPERATURE].1;
        warnings.push(format!(
            "{} = {temperature} (from {source}) is not supported: the Claude Code CLI has no \
             temperature setting, so agent runs use the model's default; remove it to silence \
             this warning",
            key::CLAUDE_TEMPERATURE
        ));
    }
    let notification = &settings.notification;
    let wants = |t: &str| notification.types.iter().any(|have| have == t);
    if wants("slack") && notification.slack_webhook_url.is_none() {
        warnings.push(
            "notification.type includes slack but SLACK_WEBHOOK_URL is not set: the notifier \
             cannot post to Slack"
                .to_owned(),
        );
    }
    if wants("webhook") && notification.webhook_url.is_none() {
        warnings.push(
            "notification.type includes webhook but NOTIFICATION_WEBHOOK_URL is not set: the \
             notifier cannot call the webhook"
                .to_owned(),
        );
    }
    warnings
}

/// What may be shown of a value: a credential URL keeps its scheme and host, a secret
/// shows only that it is set.
pub fn redact(secrecy: Secrecy, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    match secrecy {
        Secrecy::Public => value.to_owned(),
        Secrecy::Secret => "***".to_owned(),
        Secrecy::UserInfo => value
            .split(',')
            .map(|url| match url.split_once('@') {
                Some((before, host)) => {
                    let scheme = before.split_once("://").map_or("", |(scheme, _)| scheme);
                    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
                    format!("{scheme}***@{host}")
                }
                None => url.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Secrecy::Url => match value.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                // Credentials in the authority (user:pass@host) are secrets too.
                let host = host.rsplit('@').next().unwrap_or_default();
                format!("{scheme}://{host}/***")
            }
            None => "***".to_owned(),
        },
    }
}

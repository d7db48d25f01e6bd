//! Replacing secrets in text that leaves a run: progress events, logs, transcripts, error
//! messages. Known values (the service's own credentials) go first, then common credential
//! shapes, so a key the service never saw is caught too.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a secret is replaced with.
const MARK: &str = "[REDACTED]";

/// Shorter values are not treated as secrets: redacting `1` or `true` everywhere would wreck
/// every message and protect nothing.
const MIN_SECRET_LEN: usize = 8;

/// Words in a variable's name that make its value a secret.
const SECRET_NAME_PARTS: &[&str] =
    &["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "PRIVATE", "COOKIE", "WEBHOOK", "HEADERS"];
/// Name endings of variables that hold where a secret is, not the secret.
const PATH_SUFFIXES: &[&str] = &["_FILE", "_PATH", "_DIR"];

/// Credential shapes; each regex's groups 1 and 2, where it has them, are kept around the mark
/// (the `Bearer ` or `password=` before the secret, the `@` after a URL's user info).
static SHAPES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        r"\bsk-ant-[A-Za-z0-9_\-]{8,}",
        r"\bsk-[A-Za-z0-9_\-]{20,}",
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"\bAIza[0-9A-Za-z_\-]{35}\b",
        r"https://hooks\.slack\.com/[^\s\x22'<>]+",
        r"(?i)(\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=\-]{12,}",
        r"([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@\x22']+:[^/\s@\x22']+(@)",
        r#"(?i)((?:api[_-]?key|access[_-]?key|secret|token|password|passwd)[\x22']?\s*[:=]\s*[\x22']?)[^\s\x22',;&]{8,}"#,
    ]
    .iter()
    .map(|shape| Regex::new(shape).expect("the credential shapes are valid regexes"))
    .collect()
});

/// Knows the values to hide; cheap to share behind an `Arc`.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    values: Vec<String>,
}

// Written out: the whole point is that the values never show.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("values", &self.values.len()).finish()
    }
}

impl Redactor {
    /// Hides the values of `vars` whose names say they are secrets, and every value in `more`.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>, more: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<String> = vars
            .into_iter()
            .filter(|(name, _)| is_secret_name(name))
            .map(|(_, value)| value)
            .chain(more)
            .filter(|value| value.len() >= MIN_SECRET_LEN)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor { values }
    }

    /// From the process's own environment and `more`.
    pub fn from_env(more: impl IntoIterator<Item = String>) -> Redactor {
        let vars =
            std::env::vars_os().filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
        Redactor::new(vars, more)
    }

    /// This redactor, also hiding the secret ones of `vars` (variables given to runs).
    pub fn with_vars(&self, vars: impl IntoIterator<Item = (String, String)>) -> Redactor {
        Redactor::new(vars, self.values.iter().cloned())
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = Cow::Owned(text.replace(value.as_str(), MARK));
            }
        }
        for shape in SHAPES.iter() {
            if let Cow::Owned(replaced) = shape.replace_all(&text, |caps: &Captures<'_>| {
                let kept = |i| caps.get(i).map_or("", |m| m.as_str());
                format!("{}{MARK}{}", kept(1), kept(2))
            }) {
                text = Cow::Owned(replaced);
            }
        }
        text
    }

    /// [`Redactor::redact`] into an owned string, for fields about to be published.
    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => redacted,
        }
    }
}

fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
        && !PATH_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn known_values_are_replaced_wherever_they_appear() {
        let redactor = Redactor::new(
            vars(&[
                ("CT_CONTROL_TOKEN", "c0ntrol-t0ken-value"),
                ("SERVICE_PASSWORD", "hunter2hunter2"),
                ("CT_CONTROL_TOKEN_FILE", "/tmp/ct.token"),
                ("PATH", "/usr/bin:/bin"),
                ("SHORT_KEY", "abc"),
            ]),
            ["whsec-0123456789".to_owned()],
        );
        let out = redactor
            .redact("token c0ntrol-t0ken-value, pw hunter2hunter2, sig whsec-0123456789, file /tmp/ct.token, abc");
        assert_eq!(out, "token [REDACTED], pw [REDACTED], sig [REDACTED], file /tmp/ct.token, abc");
        assert_eq!(redactor.redact("nothing here"), Cow::Borrowed("nothing here"));
        assert!(!format!("{redactor:?}").contains("hunter2"));
    }

    #[test]
    fn credential_shapes_are_caught_without_being_known() {
        let redactor = Redactor::default();
        for (text, expected) in [
            ("key sk-ant-api03-AbCdEf0123456789xyz done", "key [REDACTED] done"),
            ("export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123", "export GITHUB_TOKEN=[REDACTED]"),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "Authorization: Bearer [REDACTED]"),
            ("nats://user:s3cretpass@nats:4222", "nats://[REDACTED]@nats:4222"),
            ("POST https://hooks.slack.com/services/T000/B000/XXXX ok", "POST [REDACTED] ok"),
            ("{\"password\": \"correct-horse-battery\"}", "{\"password\": \"[REDACTED]\"}"),
            ("id AKIAABCDEFGHIJKLMNOP end", "id [REDACTED] end"),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----\nafter",
                "[REDACTED]\nafter",
            ),
        ] {
            assert_eq!(redactor.redact(text), expected, "{text}");
        }
        for harmless in ["max_tokens: 1024", "cargo test --release", "see https://example.com/a:b"] {
            assert_eq!(redactor.redact(harmless), harmless);
        }
    }
}

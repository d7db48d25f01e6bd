//! The kinds of value a setting takes, and how a value is checked: in terms a user can act on.

use crate::environment::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Environment,
    HostPort,
    /// An address to listen on, `ip:port`; port 0 picks a free one.
    ListenAddress,
    /// A non-empty name without spaces.
    Name,
    /// A name in Temporal's Worker Deployments: letters, digits, `-`, `_` and `.`.
    BuildLabel,
    /// The same, or empty for the default.
    OptionalBuildLabel,
    HttpUrl,
    /// An http(s) URL, or empty for none.
    OptionalUrl,
    /// Any text; empty means unset.
    Text,
    Number {
        min: u64,
        max: u64,
    },
    /// Accepted so that configurations written for other tools load, then reported as unused.
    Temperature,
    /// A positive amount of US dollars, or empty for none.
    Dollars,
    /// A number above 0 and at most 1.
    Fraction,
    Path,
    /// `:`-separated absolute directories; empty for none.
    PathList,
    /// `nats://host:port` (or `tls://`, `ws://`), several comma-separated.
    NatsUrls,
    LogLevel,
    NotificationTypes,
    /// One of a few words.
    OneOf(&'static [&'static str]),
}

impl Kind {
    /// Checks a value, saying what is wrong in terms a user can act on.
    pub(crate) fn check(self, value: &str) -> Result<(), String> {
        match self {
            Kind::Environment => Environment::parse(value).map(drop),
            Kind::HostPort => host_port(value),
            Kind::ListenAddress => value
                .parse::<std::net::SocketAddr>()
                .map(drop)
                .map_err(|_| "expected ip:port to listen on, e.g. 127.0.0.1:8788".to_owned()),
            Kind::Name => {
                if value.trim().is_empty() || value.contains(char::is_whitespace) {
                    Err("expected a non-empty name without spaces".to_owned())
                } else {
                    Ok(())
                }
            }
            Kind::OptionalBuildLabel if value.is_empty() => Ok(()),
            Kind::BuildLabel | Kind::OptionalBuildLabel => ct_domain::builds::check_label(value),
            Kind::HttpUrl => http_url(value),
            Kind::OptionalUrl if value.is_empty() => Ok(()),
            Kind::OptionalUrl => http_url(value),
            Kind::Text | Kind::Path => Ok(()),
            Kind::PathList => path_list(value),
            Kind::NatsUrls => nats_urls(value),
            Kind::Number { min, max } => number(value, min, max).map(drop),
            Kind::Temperature => temperature(value).map(drop),
            Kind::Dollars => dollars(value).map(drop),
            Kind::Fraction => fraction(value).map(drop),
            Kind::LogLevel => log_level(value),
            Kind::NotificationTypes => notification_types(value).map(drop),
            Kind::OneOf(words) if words.contains(&value) => Ok(()),
            Kind::OneOf(words) => Err(format!("expected one of {}", words.join(", "))),
        }
    }
}

pub(crate) fn number(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = value.trim().parse().map_err(|_| format!("expected a whole number from {min} to {max}"))?;
    if n < min || n > max {
        return Err(format!("{n} is out of range: expected {min} to {max}"));
    }
    Ok(n)
}

pub(crate) fn temperature(value: &str) -> Result<Option<f64>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    match value.trim().parse::<f64>() {
        Ok(t) if (0.0..=1.0).contains(&t) => Ok(Some(t)),
        _ => Err("expected a number from 0 to 1".to_owned()),
    }
}

pub(crate) fn dollars(value: &str) -> Result<Option<f64>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let usd = value
        .trim()
        .trim_start_matches('$')
        .parse::<f64>()
        .map_err(|_| "expected an amount in US dollars, like 2.50".to_owned())?;
    ct_domain::budget::check_amount(usd).map(Some)
}

pub(crate) fn fraction(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err("expected a fraction above 0 and at most 1, like 0.8".to_owned()),
    }
}

fn host_port(value: &str) -> Result<(), String> {
    let bare = value.strip_prefix("http://").or_else(|| value.strip_prefix("https://")).unwrap_or(value);
    let (host, port) = bare.rsplit_once(':').ok_or_else(|| "expected host:port, e.g. 127.0.0.1:7233".to_owned())?;
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err("expected host:port, e.g. 127.0.0.1:7233".to_owned());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("port `{port}` is not a port number (1-65535)")),
    }
}

fn http_url(value: &str) -> Result<(), String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or_else(|| "expected an http:// or https:// URL".to_owned())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the URL has no host".to_owned());
    }
    Ok(())
}

fn path_list(value: &str) -> Result<(), String> {
    match std::env::split_paths(value).find(|dir| !dir.as_os_str().is_empty() && !dir.is_absolute()) {
        Some(relative) => {
            Err(format!("`{}` is relative: give absolute directories, `:`-separated", relative.display()))
        }
        None => Ok(()),
    }
}

fn nats_urls(value: &str) -> Result<(), String> {
    let expected = "expected nats://host:port (or tls://, ws://), several comma-separated";
    for url in value.split(',').map(str::trim) {
        let bare =
            ["nats://", "tls://", "ws://", "wss://"].iter().find_map(|scheme| url.strip_prefix(scheme)).unwrap_or(url);
        // Credentials may precede the host (nats://user:pass@host:port).
        let host_port = bare.rsplit('@').next().unwrap_or_default();
        if host_port.contains("://") || host_port.is_empty() {
            return Err(expected.to_owned());
        }
        if let Some((host, port)) = host_port.rsplit_once(':')
            && (host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(expected.to_owned());
        }
    }
    Ok(())
}

const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

fn log_level(value: &str) -> Result<(), String> {
    // A tracing filter (`info,ct_worker=debug`) is accepted as long as every level in it is.
    let levels_ok = !value.trim().is_empty()
        && value.split(',').all(|directive| {
            let level = directive.rsplit('=').next().unwrap_or_default().trim();
            LEVELS.contains(&level.to_ascii_lowercase().as_str())
        });
    if levels_ok {
        Ok(())
    } else {
        Err(format!("expected one of {}, or a filter such as info,ct_worker=debug", LEVELS.join(", ")))
    }
}

/// The notifier's backends.
pub(crate) fn notification_types(value: &str) -> Result<Vec<String>, String> {
    const KNOWN: [&str; 3] = ["console", "slack", "webhook"];
    let types: Vec<String> =
        value.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect();
    if let Some(unknown) = types.iter().find(|t| !KNOWN.contains(&t.as_str())) {
        return Err(format!("unknown notification type `{unknown}`; expected {}", KNOWN.join(", ")));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_say_what_was_expected() {
        assert_eq!(number("lots", 0, 10).unwrap_err(), "expected a whole number from 0 to 10");
        assert_eq!(number("0", 1, 10).unwrap_err(), "0 is out of range: expected 1 to 10");
        assert!(host_port("temporal:7233").is_ok());
        assert!(host_port("http://temporal:7233").is_ok());
        assert!(host_port("temporal").is_err());
        assert!(host_port("temporal:http").is_err());
        assert!(http_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(http_url("hooks.slack.com").is_err());
        assert!(log_level("info,ct_worker=debug").is_ok());
        assert!(log_level("verbose").is_err());
        assert_eq!(notification_types("console, Slack").unwrap(), ["console", "slack"]);
        assert!(notification_types("email").is_err());
        assert!(nats_urls("nats://127.0.0.1:4222,tls://user:pw@nats:4443").is_ok());
        assert!(nats_urls("nats://127.0.0.1:port").is_err());
        assert!(nats_urls("http://x:1").is_err());
        assert!(path_list("/work:/tmp").is_ok());
        assert!(path_list("work").is_err());
        assert_eq!(temperature("0.2").unwrap(), Some(0.2));
        assert!(temperature("2").is_err());
        assert_eq!(Environment::parse("PROD").unwrap(), Environment::Production);
    }
}

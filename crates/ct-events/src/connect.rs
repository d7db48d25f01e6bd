//! One way to connect to NATS for every process.

use std::time::Duration;

use crate::error::Error;

/// Default server when `NATS_URL` is unset.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Connects in the background and keeps reconnecting for ever, so a process
/// starts while NATS is still coming up and rides out a NATS restart. Fails
/// only for an address that cannot be parsed. `name` shows in the server's
/// connection list.
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, Error> {
    tracing::info!(nats = %redact_credentials(url), "connecting to NATS");
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        // The client's own default grows to 4 s; events should resume within
        // about a second of NATS coming back.
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis(50u64.saturating_mul(1 << attempt.min(5)))
        })
        .connect(url)
        .await
        .map_err(|source| Error::Connect {
            url: redact_credentials(url),
            source,
        })
}

/// `nats://user:secret@host:4222` → `nats://***@host:4222`, so that an
/// address with credentials can be logged.
pub fn redact_credentials(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    match url[authority_start..].find('@') {
        Some(at) => format!(
            "{}***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(
            redact_credentials("nats://user:secret@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(redact_credentials("token@nats:4222"), "***@nats:4222");
        assert_eq!(redact_credentials(DEFAULT_NATS_URL), DEFAULT_NATS_URL);
    }
}

//! One way to connect to NATS for every process, logged in as the process's own user when it
//! has one (compose gives every service a user allowed only its own subjects).

use std::path::Path;
use std::time::Duration;

use crate::error::Error;

/// A NATS user and its password. `Debug` shows the user only.
#[derive(Clone)]
pub struct NatsLogin {
    user: String,
    password: String,
}

impl std::fmt::Debug for NatsLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsLogin({}, <redacted>)", self.user)
    }
}

impl NatsLogin {
    /// The login of `user` with the password held in `password_file` (NATS_USER and
    /// NATS_PASSWORD_FILE); `None` when neither is given.
    pub fn load(user: Option<&str>, password_file: Option<&Path>) -> Result<Option<NatsLogin>, Error> {
        let login_error = |problem: String| Error::Login { problem };
        let (user, file) = match (user, password_file) {
            (None, None) => return Ok(None),
            (Some(user), Some(file)) => (user, file),
            (Some(user), None) => {
                return Err(login_error(format!(
                    "NATS_USER is {user:?} but no NATS_PASSWORD_FILE is given: name the file holding its password"
                )));
            }
            (None, Some(file)) => {
                return Err(login_error(format!(
                    "NATS_PASSWORD_FILE is {} but no NATS_USER is given: name the user it is the password of",
                    file.display()
                )));
            }
        };
        let text = std::fs::read_to_string(file)
            .map_err(|err| login_error(format!("cannot read NATS_PASSWORD_FILE {}: {err}", file.display())))?;
        let password = text.trim();
        if password.is_empty() {
            return Err(login_error(format!(
                "NATS_PASSWORD_FILE {} is empty: write {user:?}'s password into it",
                file.display()
            )));
        }
        Ok(Some(NatsLogin { user: user.to_owned(), password: password.to_owned() }))
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// For redaction only: never logged.
    pub fn password(&self) -> &str {
        &self.password
    }
}

/// Default server when `NATS_URL` is unset.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Connects in the background and keeps reconnecting for ever, so a process
/// starts while NATS is still coming up and rides out a NATS restart. Fails
/// only for an address that cannot be parsed. `name` shows in the server's
/// connection list. With a login, replies come to inboxes of the user's own
/// (`_INBOX_<user>.>`), which no other user may read.
pub async fn connect(url: &str, login: Option<&NatsLogin>, name: &str) -> Result<async_nats::Client, Error> {
    tracing::info!(nats = %redact_credentials(url), user = login.map(NatsLogin::user), "connecting to NATS");
    let mut options = async_nats::ConnectOptions::new();
    if let Some(login) = login {
        options = options
            .user_and_password(login.user.clone(), login.password.clone())
            .custom_inbox_prefix(format!("_INBOX_{}", login.user));
    }
    options
        // A refused login or subject is otherwise only a request that times out.
        .event_callback(|event| async move {
            if let async_nats::Event::ServerError(err) = event {
                tracing::warn!(%err, "NATS refused a request of this process (check NATS_USER and what deploy/nats.conf allows it)");
            }
        })
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
        Some(at) => format!("{}***{}", &url[..authority_start], &url[authority_start + at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(redact_credentials("nats://user:secret@nats:4222"), "nats://***@nats:4222");
        assert_eq!(redact_credentials("token@nats:4222"), "***@nats:4222");
        assert_eq!(redact_credentials(DEFAULT_NATS_URL), DEFAULT_NATS_URL);
    }
}

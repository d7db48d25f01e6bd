//! Webhook URLs and signing secrets, which must never reach a log or an
//! error message: Slack's incoming-webhook URL is itself the credential.
//! Both types print only a redacted form.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A URL whose printed form is `scheme://host[:port]` only.
#[derive(Clone)]
pub struct SecretUrl {
    url: reqwest::Url,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{var} is not an http(s) URL")]
    Url { var: &'static str },
    #[error("{var} must be a Standard Webhooks secret: whsec_ followed by base64")]
    WebhookSecret { var: &'static str },
}

impl SecretUrl {
    /// `var` names the setting in the error, since the value itself may not
    /// be shown.
    pub fn parse(value: &str, var: &'static str) -> Result<Self, SecretError> {
        let url = reqwest::Url::parse(value.trim()).map_err(|_| SecretError::Url { var })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(SecretError::Url { var });
        }
        Ok(Self { url })
    }

    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// What may be logged.
    pub fn redacted(&self) -> String {
        let host = self.url.host_str().unwrap_or("?");
        match self.url.port() {
            Some(port) => format!("{}://{host}:{port}", self.url.scheme()),
            None => format!("{}://{host}", self.url.scheme()),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The key of a Standard Webhooks endpoint (`whsec_<base64>`).
#[derive(Clone)]
pub struct WebhookSecret {
    key: ring::hmac::Key,
}

impl WebhookSecret {
    /// Accepts `whsec_<base64>` and, as the reference libraries do, the bare
    /// base64 part.
    pub fn parse(value: &str, var: &'static str) -> Result<Self, SecretError> {
        let encoded = value.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let key =
            BASE64.decode(encoded).ok().filter(|key| !key.is_empty()).ok_or(SecretError::WebhookSecret { var })?;
        Ok(Self { key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key) })
    }

    /// The `webhook-signature` header value: `v1,<base64 HMAC-SHA256 of
    /// "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", BASE64.encode(context.sign().as_ref()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_and_host_are_ever_printed() {
        let url =
            SecretUrl::parse("https://hooks.slack.com/services/T000/B000/XXXXSECRET?token=abc", "SLACK_WEBHOOK_URL")
                .unwrap();
        assert_eq!(url.to_string(), "https://hooks.slack.com");
        assert_eq!(format!("{url:?}"), "SecretUrl(https://hooks.slack.com)");
        let local = SecretUrl::parse("http://127.0.0.1:9000/hook/secret", "X").unwrap();
        assert_eq!(local.redacted(), "http://127.0.0.1:9000");
    }

    #[test]
    fn bad_values_are_errors_that_name_the_setting_but_not_the_value() {
        let err = SecretUrl::parse("ftp://example.com/secret-path", "NOTIFICATION_WEBHOOK_URL").unwrap_err();
        assert_eq!(err.to_string(), "NOTIFICATION_WEBHOOK_URL is not an http(s) URL");
        let err = WebhookSecret::parse("whsec_!!notbase64", "NOTIFICATION_WEBHOOK_SECRET").unwrap_err();
        assert!(!err.to_string().contains("notbase64"), "{err}");
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks reference test suite.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "S").unwrap();
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
    }
}

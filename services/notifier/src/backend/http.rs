//! POSTing to a webhook and sorting the answer into delivered, retryable
//! or permanent.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::DeliveryError;
use crate::secret::SecretUrl;

/// One client for every backend: connection reuse, one timeout policy.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirect would send the payload (and signature) somewhere the
            // operator did not configure.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("claude-temporal-notifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    pub(crate) async fn post(&self, url: &SecretUrl, headers: HeaderMap, body: Vec<u8>) -> Result<(), DeliveryError> {
        let response = self.client.post(url.url().clone()).headers(headers).body(body).send().await.map_err(|err| {
            DeliveryError::Retryable { reason: format!("{}: {}", url.redacted(), describe(err)), retry_after: None }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = format!("{} answered {status}", url.redacted());
        let retry_after = retry_after(response.headers(), SystemTime::now());
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
        {
            Err(DeliveryError::Retryable { reason, retry_after })
        } else {
            Err(DeliveryError::Permanent { reason })
        }
    }
}

/// The error and its causes without the URL (which reqwest would print and
/// which may be the credential).
fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.parse().unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after(&with_retry_after("2"), now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&with_retry_after(&later), now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&with_retry_after(&past), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&with_retry_after("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}

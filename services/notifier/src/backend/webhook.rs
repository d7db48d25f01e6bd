//! A generic webhook signed per the Standard Webhooks spec: the body is the
//! CloudEvent as published, `webhook-id` its event id (the same on every
//! retry, so receivers can drop duplicates), `webhook-timestamp` the send
//! time in Unix seconds, `webhook-signature` the HMAC over both and the body.

use ct_events::CloudEvent;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::{DeliveryError, HttpClient};
use crate::secret::{SecretUrl, WebhookSecret};

pub(crate) struct Webhook {
    pub(crate) http: HttpClient,
    pub(crate) url: SecretUrl,
    pub(crate) secret: WebhookSecret,
}

impl Webhook {
    pub(crate) async fn deliver(&self, event: &CloudEvent, body: &[u8]) -> Result<(), DeliveryError> {
        // Stamped per attempt: receivers reject stale timestamps.
        let timestamp = chrono::Utc::now().timestamp();
        let signature = self.secret.sign(&event.id, timestamp, body);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let header = |value: &str| {
            HeaderValue::from_str(value).map_err(|_| DeliveryError::Permanent {
                reason: format!("event id {:?} cannot be sent as an HTTP header", event.id),
            })
        };
        headers.insert("webhook-id", header(&event.id)?);
        headers.insert("webhook-timestamp", header(&timestamp.to_string())?);
        headers.insert("webhook-signature", header(&signature)?);
        self.http.post(&self.url, headers, body.to_vec()).await
    }
}

//! A generic webhook signed per the Standard Webhooks spec: the body is the
//! CloudEvent as published, `webhook-id` its event id (the same on every
//! retry, so receivers can drop duplicates), `webhook-timestamp` the send
//! time in Unix seconds, `webhook-signature` the HMAC over both and the body. Approval
//! requests carry two CloudEvents extension attributes when the stack signs links:
//! `approveurl` and `rejecturl`.

use std::sync::Arc;

use ct_events::CloudEvent;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::{DeliveryError, HttpClient};
use crate::links::ApprovalLinks;
use crate::secret::{SecretUrl, WebhookSecret};

pub(crate) struct Webhook {
    pub(crate) http: HttpClient,
    pub(crate) url: SecretUrl,
    pub(crate) secret: WebhookSecret,
    pub(crate) links: Option<Arc<ApprovalLinks>>,
}

impl Webhook {
    pub(crate) async fn deliver(&self, event: &CloudEvent, published: &[u8]) -> Result<(), DeliveryError> {
        let with_links;
        let body = match self.links.as_ref().and_then(|links| links.for_event(event)) {
            Some(links) => {
                with_links = with_link_attributes(published, &links.approve, &links.reject)?;
                &with_links[..]
            }
            None => published,
        };
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

/// The event as published, with the links as extension attributes.
fn with_link_attributes(published: &[u8], approve: &str, reject: &str) -> Result<Vec<u8>, DeliveryError> {
    let unreadable =
        |err: serde_json::Error| DeliveryError::Permanent { reason: format!("the event is not a JSON object: {err}") };
    let mut event: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(published).map_err(unreadable)?;
    event.insert("approveurl".to_owned(), approve.into());
    event.insert("rejecturl".to_owned(), reject.into());
    serde_json::to_vec(&event).map_err(unreadable)
}

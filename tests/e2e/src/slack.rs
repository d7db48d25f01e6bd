//! What Slack does, played here: an interaction request with a button click, and a receiver
//! standing in for the `response_url` the gateway posts its outcome to.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;

use ct_approvals::Verdict;
use ct_approvals::slack;

/// A local stand-in for Slack's `response_url`: every JSON body posted to it.
pub fn response_receiver() -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many bytes as Content-Length says.
            let body = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(body[..length].to_owned());
                    }
                }
            };
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            if let Some(body) = body.and_then(|b| serde_json::from_str(&b).ok()) {
                let _ = sent.send(body);
            }
        }
    });
    (url, received)
}

/// A click on the button for `verdict`, whose value is `token` (the notifier's: a signed
/// decision), with the response_url left as `RESPONSE_URL`.
pub fn click_with(user: &str, verdict: Verdict, token: &str) -> Vec<u8> {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": { "id": user, "username": "ann" },
        "response_url": "RESPONSE_URL",
        "actions": [{ "action_id": slack::action_id(verdict), "value": token }]
    });
    format!("payload={}", percent(&payload.to_string())).into_bytes()
}

/// `text` percent-encoded as a form value.
pub fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

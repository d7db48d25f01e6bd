//! Signed tokens: `<claim>.<tag>`, both base64url without padding, where the claim is JSON and
//! the tag HMAC-SHA256 of the token's purpose and the claim under the stack's key. The purpose
//! is signed too, so a token made for one use (an approval link) is never taken for another (a
//! session). The tag is checked, in constant time, before the claim is read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::link::LinkKey;

/// The longest token read: claims are a few hundred bytes.
const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// Not a token of ours at all (cut, too long, not base64, not our JSON).
    Malformed,
    /// Signed with another key, for another purpose, or changed.
    BadSignature,
}

pub(crate) fn seal<T: Serialize>(key: &LinkKey, purpose: &str, claim: &T) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claim).expect("a claim is plain data"));
    let tag = ring::hmac::sign(key.hmac(), &signed_bytes(purpose, &body));
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

pub(crate) fn open<T: DeserializeOwned>(key: &LinkKey, purpose: &str, token: &str) -> Result<T, Broken> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Broken::Malformed);
    }
    let (body, tag) = token.split_once('.').ok_or(Broken::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Broken::Malformed)?;
    ring::hmac::verify(key.hmac(), &signed_bytes(purpose, body), &tag).map_err(|_| Broken::BadSignature)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| Broken::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| Broken::Malformed)
}

/// A tag over `purpose` and the claim: purposes hold no newline, so the split is unambiguous.
fn signed_bytes(purpose: &str, body: &str) -> Vec<u8> {
    [purpose.as_bytes(), b"\n", body.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_for_its_purpose_and_key() {
        let key = LinkKey::new(&[3; 32]).unwrap();
        let token = seal(&key, "link", &vec![1, 2, 3]);
        assert_eq!(open::<Vec<u8>>(&key, "link", &token), Ok(vec![1, 2, 3]));
        assert_eq!(open::<Vec<u8>>(&key, "session", &token), Err(Broken::BadSignature));
        assert_eq!(open::<Vec<u8>>(&LinkKey::new(&[4; 32]).unwrap(), "link", &token), Err(Broken::BadSignature));
        assert_eq!(open::<Vec<u8>>(&key, "link", &"a".repeat(MAX_TOKEN_BYTES + 1)), Err(Broken::Malformed));
    }
}

//! The control API's credential: one bearer token per stack, compared in constant time.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};
use tonic::{Request, Status};

/// Never printed: `Debug` shows only that a token is set.
#[derive(Clone)]
pub struct ControlToken(String);

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the control token file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the control token file {path} is empty: write a token into it or delete it to have one made")]
    Empty { path: PathBuf },
    #[error("cannot write a new control token to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "refusing to serve the control API on {bind} without a token: set CT_CONTROL_TOKEN or \
         --control-token-file, or listen on a loopback address"
    )]
    NonLoopbackWithoutToken { bind: SocketAddr },
    #[error("cannot make a random token: the system's random source failed")]
    Random,
}

impl ControlToken {
    /// The token to require: `CT_CONTROL_TOKEN` if set, else the file's content; a missing
    /// file is created (mode 0600) with a new random token, but only for a loopback bind,
    /// where a token nobody was given cannot let a stranger in.
    pub fn resolve(from_env: Option<String>, file: &Path, bind: SocketAddr) -> Result<Self, TokenError> {
        if let Some(token) = from_env.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
            return Ok(Self(token));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let token = text.trim();
                if token.is_empty() {
                    return Err(TokenError::Empty { path: file.to_owned() });
                }
                Ok(Self(token.to_owned()))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if !bind.ip().is_loopback() {
                    return Err(TokenError::NonLoopbackWithoutToken { bind });
                }
                Self::create(file)
            }
            Err(source) => Err(TokenError::Read { path: file.to_owned(), source }),
        }
    }

    /// Writes a new random token to `file`, readable by its owner only.
    pub fn create(file: &Path) -> Result<Self, TokenError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| TokenError::Random)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let write_err = |source| TokenError::Write { path: file.to_owned(), source };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(file)
            .map_err(write_err)?;
        // An existing file keeps its mode through open(): make sure it is private.
        out.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(write_err)?;
        out.write_all(token.as_bytes()).map_err(write_err)?;
        Ok(Self(token))
    }

    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for a redactor to hide it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value for the `authorization` header of a call.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// A server interceptor: the call goes through only with `authorization: Bearer <token>`.
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match presented {
            Some(token) if self.matches(token) => Ok(request),
            Some(_) => Err(Status::unauthenticated("wrong control token")),
            None => Err(Status::unauthenticated(
                "the control API needs `authorization: Bearer <token>`: the token is in the stack's \
                 control.token file (or CT_CONTROL_TOKEN)",
            )),
        }
    }
}

/// Compares every byte whatever the first difference, so the time taken says nothing about
/// how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn a_missing_file_gets_a_private_random_token_that_is_reused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("state/control.token");
        let made = ControlToken::resolve(None, &file, loopback())?;
        assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(made.0.len(), 64);
        let again = ControlToken::resolve(None, &file, loopback())?;
        assert_eq!(made.0, again.0);
        assert!(!format!("{made:?}").contains(&made.0));
        Ok(())
    }

    #[test]
    fn a_non_loopback_bind_without_a_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = ControlToken::resolve(None, &dir.path().join("t"), "0.0.0.0:5000".parse().unwrap()).unwrap_err();
        assert!(matches!(err, TokenError::NonLoopbackWithoutToken { .. }), "{err}");
        let given =
            ControlToken::resolve(Some("s3cret".into()), &dir.path().join("t"), "0.0.0.0:5000".parse().unwrap());
        assert!(given.is_ok());
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = ControlToken::new("abc123");
        let with = |value: Option<&str>| {
            let mut request = Request::new(());
            if let Some(value) = value {
                request.metadata_mut().insert("authorization", value.parse().unwrap());
            }
            token.check(request).map(|_| ()).map_err(|s| s.code())
        };
        assert_eq!(with(Some("Bearer abc123")), Ok(()));
        assert_eq!(with(Some("Bearer abc124")), Err(tonic::Code::Unauthenticated));
        assert_eq!(with(Some("Bearer abc12")), Err(tonic::Code::Unauthenticated));
        assert_eq!(with(Some("abc123")), Err(tonic::Code::Unauthenticated));
        assert_eq!(with(None), Err(tonic::Code::Unauthenticated));
    }
}

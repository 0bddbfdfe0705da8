//! API tokens: which routes need which token (`http.write_token`, `http.read_token`), read
//! from the settings and token files once, checked before a handler runs (so before a body
//! is read), compared in constant time, never logged.
//!
//! A missing or unknown token gets 401 with `WWW-Authenticate: Bearer`; a read token on a
//! write route gets 403. A scope without tokens is open.

use std::path::{Path, PathBuf};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::answer::error;
use crate::settings::{HttpSettings, Tokens};

/// Why the tokens could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A token file could not be read.
    #[error("{setting}: cannot read {path}: {source}")]
    Unreadable {
        /// `http.write_token_file` or `http.read_token_file`.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A token in a file is unusable (too short, or not sendable in a header).
    #[error("{setting}: {path}: {reason}")]
    Invalid {
        /// The setting naming the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong (the token is not shown).
        reason: String,
    },
    /// The file names a token that is also a token of the other scope.
    #[error("{setting}: a read token is also a write token: whoever holds it could write")]
    Shared {
        /// The setting at fault.
        setting: &'static str,
    },
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// Reading feeds and fan-out status: a read or a write token.
    Read,
    /// Anything that changes state: a write token.
    Write,
}

/// The valid tokens of each scope, as SHA-256 digests: comparing digests takes the same
/// time whatever the token's length, and the tokens themselves are not kept.
#[derive(Clone, Default)]
pub(super) struct Access {
    write: Vec<[u8; 32]>,
    read: Vec<[u8; 32]>,
}

/// Whether a request may go on, and if not, the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Allowed,
    /// 401: no token, or one that is not valid.
    Unauthenticated {
        presented: bool,
    },
    /// 403: a valid token of the wrong scope.
    Forbidden,
}

impl Access {
    /// The tokens from `http`, with those of its token files.
    pub(super) fn from_settings(http: &HttpSettings) -> Result<Self, TokenError> {
        let write = tokens(
            &http.write_token,
            &http.write_token_file,
            "http.write_token_file",
        )?;
        let read = tokens(
            &http.read_token,
            &http.read_token_file,
            "http.read_token_file",
        )?;
        if read.iter().any(|t| write.contains(t)) {
            let setting = match http.read_token_file {
                Some(_) => "http.read_token_file",
                None => "http.write_token_file",
            };
            return Err(TokenError::Shared { setting });
        }
        Ok(Self { write, read })
    }

    /// Whether a write and a read token are both set (protected mode asks for both).
    pub(super) fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.write.is_empty() {
            missing.push("http.write_token (or http.write_token_file)");
        }
        if self.read.is_empty() {
            missing.push("http.read_token (or http.read_token_file)");
        }
        missing
    }

    /// The verdict on `authorization` (the header, if any) for a route of `scope`.
    pub(super) fn check(&self, scope: Scope, authorization: Option<&HeaderValue>) -> Verdict {
        let required = match scope {
            Scope::Write => &self.write,
            Scope::Read => &self.read,
        };
        if required.is_empty() {
            return Verdict::Allowed;
        }
        let Some(token) = authorization.and_then(bearer) else {
            return Verdict::Unauthenticated {
                presented: authorization.is_some(),
            };
        };
        let digest = sha256(token);
        let (is_write, is_read) = (
            contains(&self.write, &digest),
            contains(&self.read, &digest),
        );
        match scope {
            Scope::Write if is_write => Verdict::Allowed,
            Scope::Write if is_read => Verdict::Forbidden,
            // Whoever may write may also read.
            Scope::Read if is_read || is_write => Verdict::Allowed,
            _ => Verdict::Unauthenticated { presented: true },
        }
    }
}

/// The setting's tokens plus the file's, as digests.
fn tokens(
    setting: &Tokens,
    file: &Option<PathBuf>,
    file_setting: &'static str,
) -> Result<Vec<[u8; 32]>, TokenError> {
    let mut all: Vec<[u8; 32]> = setting.expose().iter().map(|t| sha256(t)).collect();
    if let Some(path) = file {
        all.extend(
            read_file(path, file_setting)?
                .expose()
                .iter()
                .map(|t| sha256(t)),
        );
    }
    Ok(all)
}

fn read_file(path: &Path, setting: &'static str) -> Result<Tokens, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Unreadable {
        setting,
        path: path.to_owned(),
        source,
    })?;
    let tokens = Tokens::parse(&text);
    let invalid = if tokens.is_empty() {
        Some("holds no token".to_owned())
    } else {
        tokens.invalid()
    };
    match invalid {
        Some(reason) => Err(TokenError::Invalid {
            setting,
            path: path.to_owned(),
            reason,
        }),
        None => Ok(tokens),
    }
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares against every digest, never stopping at the first match.
fn contains(digests: &[[u8; 32]], digest: &[u8; 32]) -> bool {
    digests
        .iter()
        .fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(digest))
        .into()
}

/// The token of `Authorization: Bearer <token>` (the scheme's case does not matter).
fn bearer(header: &HeaderValue) -> Option<&str> {
    let (scheme, token) = header.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware for the routes that write.
pub(super) async fn write_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    guard(Scope::Write, req, next).await
}

/// Middleware for the routes that read.
pub(super) async fn read_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    guard(Scope::Read, req, next).await
}

async fn guard<B: MessageBody>(
    scope: Scope,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<Access>>() {
        Some(access) => access.check(scope, req.headers().get(AUTHORIZATION)),
        // Mounted without its state: refuse rather than run unprotected.
        None => Verdict::Unauthenticated { presented: false },
    };
    let (status, message, challenge) = match verdict {
        Verdict::Allowed => return Ok(next.call(req).await?.map_into_left_body()),
        Verdict::Unauthenticated { presented: false } => (
            StatusCode::UNAUTHORIZED,
            "this route needs Authorization: Bearer <token>",
            "Bearer realm=\"fanout\"",
        ),
        Verdict::Unauthenticated { presented: true } => (
            StatusCode::UNAUTHORIZED,
            "the bearer token is not valid",
            "Bearer realm=\"fanout\", error=\"invalid_token\"",
        ),
        Verdict::Forbidden => (
            StatusCode::FORBIDDEN,
            "this route needs a write token; the token given is a read token",
            "Bearer realm=\"fanout\", error=\"insufficient_scope\"",
        ),
    };
    let mut response = error(status, message, None);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &str = "wwwwwwwwwwwwwwwwwwww";
    const W2: &str = "wwwwwwwwwwwwwwwwwww2";
    const R: &str = "rrrrrrrrrrrrrrrrrrrr";

    fn access(write: &str, read: &str) -> Access {
        let http = HttpSettings {
            write_token: Tokens::parse(write),
            read_token: Tokens::parse(read),
            ..HttpSettings::default()
        };
        Access::from_settings(&http).unwrap()
    }

    fn check(access: &Access, scope: Scope, header: Option<&str>) -> Verdict {
        let header = header.map(|h| HeaderValue::from_str(h).unwrap());
        access.check(scope, header.as_ref())
    }

    #[test]
    fn each_scope_needs_its_token() {
        let both = access(&format!("{W},{W2}"), R);
        let none = Verdict::Unauthenticated { presented: false };
        let bad = Verdict::Unauthenticated { presented: true };
        let cases = [
            (Scope::Write, None, none.clone()),
            (Scope::Write, Some(format!("Bearer {W}")), Verdict::Allowed),
            (Scope::Write, Some(format!("bearer {W2}")), Verdict::Allowed),
            (
                Scope::Write,
                Some(format!("Bearer {R}")),
                Verdict::Forbidden,
            ),
            (Scope::Write, Some(format!("Basic {W}")), bad.clone()),
            (Scope::Write, Some("Bearer nope".to_owned()), bad.clone()),
            (Scope::Read, None, none),
            (Scope::Read, Some(format!("Bearer {R}")), Verdict::Allowed),
            (Scope::Read, Some(format!("Bearer {W}")), Verdict::Allowed),
            (Scope::Read, Some(format!("Bearer {W}x")), bad),
        ];
        for (scope, header, expected) in cases {
            assert_eq!(
                check(&both, scope, header.as_deref()),
                expected,
                "{scope:?} {header:?}"
            );
        }
    }

    #[test]
    fn a_scope_without_tokens_is_open() {
        let open = access("", "");
        assert_eq!(check(&open, Scope::Write, None), Verdict::Allowed);
        assert_eq!(check(&open, Scope::Read, None), Verdict::Allowed);
        assert_eq!(open.missing().len(), 2);
        let writes_only = access(W, "");
        assert_eq!(check(&writes_only, Scope::Read, None), Verdict::Allowed);
        assert_eq!(
            check(&writes_only, Scope::Write, None),
            Verdict::Unauthenticated { presented: false }
        );
        assert_eq!(
            writes_only.missing(),
            ["http.read_token (or http.read_token_file)"]
        );
        let reads_only = access("", R);
        assert_eq!(check(&reads_only, Scope::Write, None), Verdict::Allowed);
        assert_eq!(
            check(&reads_only, Scope::Read, None),
            Verdict::Unauthenticated { presented: false }
        );
    }

    #[test]
    fn token_files_add_tokens_and_name_themselves_when_bad() {
        let dir = std::env::temp_dir().join(format!("fanout-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, format!("{W2}\n\n{W}\n")).unwrap();
        let mut http = HttpSettings {
            write_token_file: Some(good),
            ..HttpSettings::default()
        };
        let access = Access::from_settings(&http).unwrap();
        assert_eq!(
            check(&access, Scope::Write, Some(&format!("Bearer {W}"))),
            Verdict::Allowed
        );
        let short = dir.join("short");
        std::fs::write(&short, "tiny\n").unwrap();
        http.write_token_file = Some(short);
        let e = Access::from_settings(&http).err().unwrap().to_string();
        assert!(e.starts_with("http.write_token_file: "), "{e}");
        assert!(e.contains("has 4 characters") && !e.contains("tiny"), "{e}");
        http.write_token_file = Some(dir.join("absent"));
        let e = Access::from_settings(&http).err().unwrap().to_string();
        assert!(e.starts_with("http.write_token_file: cannot read "), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

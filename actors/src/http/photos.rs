//! `POST /photos`: read the body (by a deadline), validate it, send `PhotoPosted`, answer
//! 202 at once.

use actix_web::http::header::{HeaderValue, LOCATION, RETRY_AFTER};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::answer::{error, AppState};
use crate::error::PostError;
use crate::messages::{FanoutId, PhotoPosted};

/// A valid upload notice.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PhotoRequest {
    pub user_id: u64,
    pub photo_id: u64,
}

/// A request that is not valid: what is wrong, and which field.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadRequest {
    pub message: String,
    pub field: Option<&'static str>,
}

/// A JSON object's members in order, duplicates kept (a `Value` keeps the last one only).
struct Members(Vec<String>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut names = Vec::new();
                while let Some((name, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    names.push(name);
                }
                Ok(Members(names))
            }
        }
        deserializer.deserialize_map(Names)
    }
}

impl PhotoRequest {
    /// Parses `{"user_id": <positive integer>, "photo_id": <positive integer>}`.
    pub fn parse(body: &[u8]) -> Result<Self, BadRequest> {
        let value: Value = serde_json::from_slice(body).map_err(|e| BadRequest {
            message: format!("body is not valid JSON: {e}"),
            field: None,
        })?;
        if !value.is_object() {
            return Err(BadRequest {
                message: "body must be a JSON object".to_owned(),
                field: None,
            });
        }
        // Two `user_id`s would make the body mean what the last one says to us and
        // something else to a proxy or log reader that takes the first.
        let members = serde_json::from_slice::<Members>(body).map_err(|e| BadRequest {
            message: format!("body is not valid JSON: {e}"),
            field: None,
        })?;
        for field in ["user_id", "photo_id"] {
            if members.0.iter().filter(|name| *name == field).count() > 1 {
                return Err(BadRequest {
                    message: format!("field {field} is given more than once"),
                    field: Some(field),
                });
            }
        }
        Ok(Self {
            user_id: positive_id(&value, "user_id")?,
            photo_id: positive_id(&value, "photo_id")?,
        })
    }
}

fn positive_id(body: &Value, field: &'static str) -> Result<u64, BadRequest> {
    let bad = |message: String| BadRequest {
        message,
        field: Some(field),
    };
    match body.get(field) {
        None => Err(bad(format!("missing field {field}"))),
        Some(value) => value
            .as_u64()
            .filter(|id| *id > 0)
            .ok_or_else(|| bad(format!("{field} must be a positive integer, got {value}"))),
    }
}

/// Reads the body, refusing (early) one over `limit` bytes.
async fn read_body(payload: &mut web::Payload, limit: usize) -> Result<Vec<u8>, HttpResponse> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string(), None))?;
        if body.len() + chunk.len() > limit {
            let message = format!("body is larger than {limit} bytes");
            return Err(error(StatusCode::PAYLOAD_TOO_LARGE, &message, None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(super) async fn post_photo(
    state: web::Data<AppState>,
    http_request: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    // The head has arrived (actix bounds that with `client_request_timeout`); the body gets
    // the same time, or a client sending a byte now and then would hold the connection.
    let reading = read_body(&mut payload, state.max_body_bytes);
    let body = match tokio::time::timeout(state.request_timeout, reading).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return response,
        Err(_) => {
            let message = format!(
                "the request body did not arrive within {} ms (http.request_timeout_ms)",
                state.request_timeout.as_millis()
            );
            let mut response = error(StatusCode::REQUEST_TIMEOUT, &message, None);
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
            return response;
        }
    };
    let request = match PhotoRequest::parse(&body) {
        Ok(request) => request,
        Err(bad) => return error(StatusCode::BAD_REQUEST, &bad.message, bad.field),
    };
    match state
        .fanout
        .post(PhotoPosted::now(request.user_id, request.photo_id))
        .await
    {
        Ok(done) => accepted(status_url(http_request.path(), done.fanout_id), &done),
        Err(e) => refusal(e),
    }
}

/// The answer for a refused post or delete. Nothing was written unless the message says
/// otherwise.
pub(super) fn refusal(e: PostError) -> HttpResponse {
    match e {
        PostError::Overloaded => retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            &PostError::Overloaded.to_string(),
            None,
            "1",
        ),
        // One author's quota: the service is fine, this client is asking too much.
        e @ PostError::AuthorBusy { .. } => retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            &e.to_string(),
            Some("user_id"),
            "5",
        ),
        e @ (PostError::Unavailable(_) | PostError::Stopped) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)
        }
        // Another author's photo id: the request conflicts with what exists; nothing was
        // written.
        e @ PostError::Conflict { .. } => {
            error(StatusCode::CONFLICT, &e.to_string(), Some("photo_id"))
        }
        // A deleted photo id: gone for good (while the deletion's record is kept).
        e @ PostError::Deleted { .. } => error(StatusCode::GONE, &e.to_string(), Some("photo_id")),
        e @ PostError::NotPosted { .. } => {
            error(StatusCode::NOT_FOUND, &e.to_string(), Some("photo_id"))
        }
        // E.g. the author's follower key has the wrong type: the data is at fault, not the
        // request.
        e => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

/// An error answer with `Retry-After: seconds`.
fn retry_later(
    status: StatusCode,
    message: &str,
    field: Option<&str>,
    seconds: &'static str,
) -> HttpResponse {
    let mut response = error(status, message, field);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}

/// `/fanouts/{id}` beside the `/photos` that was called, so the link also holds when a
/// host mounts the routes under a scope of its own (`/api/photos` → `/api/fanouts/7`).
fn status_url(photos_path: &str, id: FanoutId) -> String {
    let base = photos_path.strip_suffix("photos").unwrap_or("/");
    format!("{base}fanouts/{id}")
}

/// The 202 answer for an accepted post or delete: its job, with a `Location` header.
pub(super) fn accepted(status_url: String, accepted: &crate::messages::Accepted) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((LOCATION, status_url.clone()))
        .json(serde_json::json!({
            "fanout_id": accepted.fanout_id.0,
            "followers": accepted.followers,
            "already_posted": accepted.already_posted,
            "status_url": status_url,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_url_follows_the_mount_point() {
        assert_eq!(status_url("/photos", FanoutId(7)), "/fanouts/7");
        assert_eq!(
            status_url("/api/v1/photos", FanoutId(7)),
            "/api/v1/fanouts/7"
        );
    }

    fn parse(body: &str) -> Result<PhotoRequest, BadRequest> {
        PhotoRequest::parse(body.as_bytes())
    }

    #[test]
    fn a_valid_notice_parses() {
        assert_eq!(
            parse(r#"{"user_id": 343, "photo_id": 777}"#),
            Ok(PhotoRequest {
                user_id: 343,
                photo_id: 777
            })
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |body| parse(body).unwrap_err().field;
        assert_eq!(field(r#"{"photo_id": 1}"#), Some("user_id"));
        assert_eq!(field(r#"{"user_id": 1}"#), Some("photo_id"));
        assert_eq!(field(r#"{"user_id": 0, "photo_id": 1}"#), Some("user_id"));
        assert_eq!(field(r#"{"user_id": -3, "photo_id": 1}"#), Some("user_id"));
        assert_eq!(field(r#"{"user_id": 1.5, "photo_id": 1}"#), Some("user_id"));
        assert_eq!(
            field(r#"{"user_id": "343", "photo_id": 1}"#),
            Some("user_id")
        );
        assert_eq!(
            field(r#"{"user_id": 1, "photo_id": null}"#),
            Some("photo_id")
        );
        let e = parse(r#"{"user_id": 1, "photo_id": -2}"#).unwrap_err();
        assert_eq!(e.message, "photo_id must be a positive integer, got -2");
    }

    #[test]
    fn repeated_fields_are_refused() {
        let e = parse(r#"{"user_id": 1, "photo_id": 2, "user_id": 3}"#).unwrap_err();
        assert_eq!(e.field, Some("user_id"));
        assert_eq!(e.message, "field user_id is given more than once");
        let e = parse(r#"{"photo_id": 2, "user_id": 1, "photo_id": 2}"#).unwrap_err();
        assert_eq!(e.field, Some("photo_id"));
        // Other members are not ours to judge.
        assert!(parse(r#"{"user_id": 1, "photo_id": 2, "x": 1, "x": 2}"#).is_ok());
    }

    #[test]
    fn bad_json_and_non_objects_are_refused() {
        assert!(parse("{")
            .unwrap_err()
            .message
            .starts_with("body is not valid JSON"));
        assert_eq!(
            parse("[1, 2]").unwrap_err().message,
            "body must be a JSON object"
        );
        assert_eq!(parse("").unwrap_err().field, None);
    }
}

//! `POST /photos`: validate the body, send `PhotoPosted`, answer 202 at once.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
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

/// A request body that is not a valid upload notice: what is wrong, and which field.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadRequest {
    pub message: String,
    pub field: Option<&'static str>,
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
    let body = match read_body(&mut payload, state.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => return response,
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
        Ok(accepted) => HttpResponse::Accepted().json(serde_json::json!({
            "fanout_id": accepted.fanout_id.0,
            "followers": accepted.followers,
            "already_posted": accepted.already_posted,
            "status_url": status_url(http_request.path(), accepted.fanout_id),
        })),
        Err(PostError::Overloaded) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                &PostError::Overloaded.to_string(),
                None,
            );
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
            response
        }
        Err(e @ (PostError::Unavailable(_) | PostError::Stopped)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)
        }
        // Another author's photo id: the request conflicts with what exists; nothing was
        // written.
        Err(e @ PostError::Conflict { .. }) => {
            error(StatusCode::CONFLICT, &e.to_string(), Some("photo_id"))
        }
        // E.g. the author's follower key has the wrong type: the data is at fault, not the
        // request.
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

/// `/fanouts/{id}` beside the `/photos` that was called, so the link also holds when a
/// host mounts the routes under a scope of its own (`/api/photos` → `/api/fanouts/7`).
fn status_url(photos_path: &str, id: FanoutId) -> String {
    let base = photos_path.strip_suffix("photos").unwrap_or("/");
    format!("{base}fanouts/{id}")
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

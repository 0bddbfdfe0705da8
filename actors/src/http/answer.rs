//! What the handlers share: the state they reach, the JSON error answer, and the JSON
//! answers for what actix-web itself refuses (wrong method, bad path or query).

use std::time::Duration;

use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::handle::FanOut;

/// What every handler reaches: the handle and the limits from its settings.
pub(super) struct AppState {
    pub(super) fanout: FanOut,
    pub(super) max_body_bytes: usize,
    /// `http.request_timeout_ms`: by when a body must have arrived.
    pub(super) request_timeout: Duration,
    pub(super) max_feed_len: u64,
}

/// The JSON error answer, also for a host's own routes beside these.
pub fn error(status: StatusCode, message: &str, field: Option<&str>) -> HttpResponse {
    let mut body = serde_json::json!({ "error": message });
    if let Some(field) = field {
        body["field"] = field.into();
    }
    HttpResponse::build(status).json(body)
}

/// A resource at `path` whose other methods get 405 with `Allow: allow`.
pub(super) fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let message = format!("this endpoint takes {allow} only");
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, &message, None);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        response
    }))
}

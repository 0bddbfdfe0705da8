//! What the handlers share: the state they reach and the JSON error answer.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::handle::FanOut;

/// What every handler reaches: the handle and the limits from its settings.
pub(super) struct AppState {
    pub(super) fanout: FanOut,
    pub(super) max_body_bytes: usize,
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

//! Read-only endpoints: a fan-out's progress and a user's feed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::answer::{error, AppState};
use super::photos::BadRequest;
use crate::messages::FanoutId;
use crate::store::FeedPage;

/// `GET /fanouts/{id}`: progress of one fan-out, wherever it runs.
pub(super) async fn fanout_status(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::NOT_FOUND, &format!("no fan-out '{id}'"), None);
    };
    match state.fanout.status(FanoutId(id)).await {
        Ok(Some(s)) => HttpResponse::Ok().json(serde_json::json!({
            "fanout_id": s.fanout_id.0,
            "kind": s.kind.as_str(),
            "photo_id": s.photo_id,
            "author_id": s.author_id,
            "state": s.state.as_str(),
            "followers": s.followers,
            "ranges_total": s.ranges_total,
            "ranges_done": s.ranges_done,
            "feeds_written": s.feeds_written,
            "retries": s.retries,
            "dead_ranges": s.dead_ranges.iter().map(|d| serde_json::json!({
                "start": d.range.start,
                "stop": d.range.stop,
                "attempts": d.attempts,
                "error": d.error,
            })).collect::<Vec<_>>(),
            "elapsed_ms": s.elapsed.as_millis() as u64,
        })),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no fan-out {id}"), None),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

/// Photo ids returned when no `limit` is given.
const DEFAULT_FEED_LIMIT: u64 = 50;

/// `GET /users/{id}/feed?limit=N&before=P`: the newest photo ids, newest first, or the
/// page after photo `P` (the last id of the previous page, also given as `next_before`).
pub(super) async fn feed(
    state: web::Data<AppState>,
    user: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let Some(user) = user.parse::<u64>().ok().filter(|u| *u > 0) else {
        return error(
            StatusCode::BAD_REQUEST,
            "user id must be a positive integer",
            Some("id"),
        );
    };
    let query = match FeedQuery::parse(request.query_string()) {
        Ok(query) => query,
        Err(bad) => return error(StatusCode::BAD_REQUEST, &bad.message, bad.field),
    };
    let limit = query
        .limit
        .unwrap_or(DEFAULT_FEED_LIMIT)
        .min(state.max_feed_len);
    let page = FeedPage {
        limit,
        before: query.before,
    };
    match state.fanout.read_feed_page(user, page).await {
        Ok(Some((photos, more))) => {
            let next_before = photos.last().filter(|_| more);
            HttpResponse::Ok().json(serde_json::json!({
                "user_id": user,
                "photo_ids": photos,
                "next_before": next_before,
            }))
        }
        Ok(None) => {
            let message = format!(
                "photo {} is not among the newest {} entries of user {user}'s feed (pushed out, or never there): start again from the newest",
                query.before.unwrap_or_default(),
                state.max_feed_len
            );
            error(StatusCode::BAD_REQUEST, &message, Some("before"))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

/// The feed's query: each parameter at most once, each a positive integer.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct FeedQuery {
    limit: Option<u64>,
    before: Option<u64>,
}

impl FeedQuery {
    fn parse(query: &str) -> Result<Self, BadRequest> {
        let mut parsed = Self::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (slot, field) = match &*name {
                "limit" => (&mut parsed.limit, "limit"),
                "before" => (&mut parsed.before, "before"),
                // Unknown parameters (cache busters, tracking) are not ours to refuse.
                _ => continue,
            };
            if slot.is_some() {
                return Err(BadRequest {
                    message: format!("query parameter {field} is given more than once"),
                    field: Some(field),
                });
            }
            match value.parse::<u64>() {
                Ok(n) if n > 0 => *slot = Some(n),
                _ => {
                    return Err(BadRequest {
                        message: format!("{field} must be a positive integer, got '{value}'"),
                        field: Some(field),
                    })
                }
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_queries_parse_once_each() {
        assert_eq!(FeedQuery::parse(""), Ok(FeedQuery::default()));
        assert_eq!(
            FeedQuery::parse("limit=5&before=77&x=1"),
            Ok(FeedQuery {
                limit: Some(5),
                before: Some(77)
            })
        );
        let field = |q| FeedQuery::parse(q).unwrap_err().field;
        assert_eq!(field("limit=1&limit=2"), Some("limit"));
        assert_eq!(field("before=1&before=1"), Some("before"));
        assert_eq!(field("limit=0"), Some("limit"));
        assert_eq!(field("before=-1"), Some("before"));
        assert_eq!(
            FeedQuery::parse("limit=1&limit=2").unwrap_err().message,
            "query parameter limit is given more than once"
        );
    }
}

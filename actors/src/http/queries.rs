//! Read-only endpoints: a fan-out's progress, a user's feed, the service's health.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::answer::{error, AppState};
use crate::messages::{FanoutId, JobState};

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
            "photo_id": s.photo_id,
            "author_id": s.author_id,
            "state": match s.state {
                JobState::Queued => "queued",
                JobState::Running => "running",
                JobState::Completed => "completed",
                JobState::Failed => "failed",
            },
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

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    limit: Option<String>,
}

/// Photo ids returned when no `limit` is given.
const DEFAULT_FEED_LIMIT: u64 = 50;

/// `GET /users/{id}/feed?limit=N`: the newest photo ids, newest first.
pub(super) async fn feed(
    state: web::Data<AppState>,
    user: web::Path<String>,
    query: web::Query<FeedQuery>,
) -> HttpResponse {
    let Some(user) = user.parse::<u64>().ok().filter(|u| *u > 0) else {
        return error(
            StatusCode::BAD_REQUEST,
            "user id must be a positive integer",
            Some("id"),
        );
    };
    let limit = match &query.limit {
        None => DEFAULT_FEED_LIMIT,
        Some(raw) => match raw.parse::<u64>() {
            Ok(limit) if limit > 0 => limit,
            _ => {
                let message = format!("limit must be a positive integer, got '{raw}'");
                return error(StatusCode::BAD_REQUEST, &message, Some("limit"));
            }
        },
    }
    .min(state.max_feed_len);
    match state.fanout.read_feed(user, limit).await {
        Ok(photos) => HttpResponse::Ok().json(serde_json::json!({
            "user_id": user,
            "photo_ids": photos,
        })),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

/// `GET /healthz`: 200 when Redis answers and at least one writer is healthy.
pub(super) async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let redis = match tokio::time::timeout(Duration::from_secs(2), state.fanout.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer to PING within 2 s".to_owned()),
    };
    let (healthy_writers, total_writers) = state.fanout.writer_health().await.unwrap_or((0, 0));
    let healthy = redis.is_ok() && healthy_writers > 0;
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "redis": match &redis {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.clone(),
        },
        "writers": { "healthy": healthy_writers, "total": total_writers },
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

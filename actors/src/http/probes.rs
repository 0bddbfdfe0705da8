//! The probes, always open: `GET /livez` says the process and its actors answer (whatever
//! Redis does: a liveness probe that failed during a Redis outage would restart every
//! instance at once), `GET /readyz` (and its alias `/healthz`) says whether this instance
//! can do its work now: Redis answers and no writer is degraded.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::answer::AppState;

/// How long a probe waits for the coordinator or Redis.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /livez`: 200 while the coordinator answers, 503 when it has stopped or is stuck.
pub(super) async fn livez(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(PROBE_TIMEOUT, state.fanout.writer_health()).await {
        Ok(Ok(_)) => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Ok(Err(e)) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "down", "reason": e.to_string() })),
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "down",
            "reason": format!("the coordinator did not answer within {} s", PROBE_TIMEOUT.as_secs()),
        })),
    }
}

/// `GET /readyz`: 200 when Redis answers PING and every writer is healthy; else 503 with
/// what is wrong.
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let redis = match tokio::time::timeout(PROBE_TIMEOUT, state.fanout.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer to PING within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    };
    let writers = tokio::time::timeout(PROBE_TIMEOUT, state.fanout.writer_health()).await;
    let (healthy, total) = match writers {
        Ok(Ok(counts)) => counts,
        _ => (0, state.fanout.settings().fanout.writers),
    };
    let mut problems = Vec::new();
    if let Err(e) = &redis {
        problems.push(format!("Redis: {e}"));
    }
    if healthy < total {
        problems.push(format!(
            "{} of {total} feed writers degraded (restarting too often after panics)",
            total - healthy
        ));
    }
    let body = json!({
        "status": if problems.is_empty() { "ok" } else { "unavailable" },
        "redis": match &redis {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.clone(),
        },
        "writers": { "healthy": healthy, "total": total },
        "problems": problems,
    });
    if problems.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

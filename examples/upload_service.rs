//! A minimal host service: an actix-web app whose own upload handler hands the fan-out to
//! `fanout` and answers at once, and which also mounts fanout's ready-made routes
//! (`POST /photos`, `GET /fanouts/{id}`, `GET /users/{id}/feed`, `/livez`, `/readyz`; cargo
//! feature `http`) with the same tokens and protected mode as `fanout serve`. Every error
//! it answers is JSON, like the service's. Copy it into your own service.
//!
//! It takes its settings from `FANOUT_*` environment variables (cargo feature
//! `config-file`); a host with a configuration file of its own deserializes
//! `fanout::Settings` from it instead. It listens on 127.0.0.1:8081 (README "Embedding"):
//!
//! ```sh
//! FANOUT_REDIS_URL=redis://127.0.0.1:6379 cargo run --example upload_service
//! curl -X POST localhost:8081/upload -H 'content-type: application/json' \
//!      -d '{"user_id": 343, "photo_id": 777}'
//! ```

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{error::InternalError, post, web, App, HttpResponse, HttpServer};
use fanout::http::error;
use fanout::{FanOut, PhotoPosted, PostError};
use serde::Deserialize;

/// Where it listens.
const ADDR: &str = "127.0.0.1:8081";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    user_id: u64,
    photo_id: u64,
}

#[post("/upload")]
async fn upload(fanout: web::Data<FanOut>, upload: web::Json<Upload>) -> HttpResponse {
    // (Store the photo itself here.)
    //
    // `post` sends `PhotoPosted` with `send`, never `do_send`: a full coordinator answers
    // `Overloaded` at once instead of queueing without bound. The timeout bounds the wait
    // for Redis; if it fires after the post was accepted, retrying is safe: the same photo
    // returns the same fan-out.
    let posted = PhotoPosted::now(upload.user_id, upload.photo_id);
    let retry_later = |status, message: &str| {
        let mut response = error(status, message, None);
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("1"),
        );
        response
    };
    match tokio::time::timeout(Duration::from_secs(2), fanout.post(posted)).await {
        Ok(Ok(accepted)) => HttpResponse::Accepted().json(serde_json::json!({
            "fanout_id": accepted.fanout_id.0,
            "followers": accepted.followers,
        })),
        Ok(Err(e @ PostError::Overloaded)) => {
            retry_later(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        Ok(Err(e @ PostError::AuthorBusy { .. })) => {
            retry_later(StatusCode::TOO_MANY_REQUESTS, &e.to_string())
        }
        Ok(Err(e @ PostError::Conflict { .. })) => {
            error(StatusCode::CONFLICT, &e.to_string(), Some("photo_id"))
        }
        Ok(Err(e @ (PostError::Unavailable(_) | PostError::Stopped))) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
        Err(_) => retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "fan-out did not answer in time, retry later",
        ),
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loaded = fanout::settings::load::load(None)?;
    for var in &loaded.unknown_env {
        eprintln!("warning: {var} is not a fanout setting; ignored");
    }
    // The same rule as `fanout serve`: beyond loopback only with tokens.
    let addrs = fanout::settings::resolve_bind(ADDR)?;
    fanout::http::protected_mode(&loaded.settings.http, &addrs)?;
    // Connects to Redis (failing within seconds when it is unreachable) and resumes any
    // fan-out a previous run left unfinished.
    let fanout = FanOut::builder(loaded.settings).start().await?;
    let routes = fanout::http::routes(&fanout)?;
    let app_fanout = fanout.clone();
    eprintln!("listening on http://{ADDR}");
    HttpServer::new(move || {
        // A body that is not an `Upload` gets a JSON 400, like fanout's own routes.
        let json = web::JsonConfig::default().error_handler(|e, _| {
            let response = error(StatusCode::BAD_REQUEST, &e.to_string(), None);
            InternalError::from_response(e, response).into()
        });
        App::new()
            .app_data(web::Data::new(app_fanout.clone()))
            .app_data(json)
            .service(upload)
            .configure(routes.clone())
    })
    .bind(&addrs[..])?
    .run()
    .await?;
    // The server has stopped (SIGTERM or Ctrl-C): let batches in flight finish and hand the
    // unfinished fan-outs back for the next start, or another instance, to resume.
    fanout.shutdown(Duration::from_secs(30)).await?;
    Ok(())
}

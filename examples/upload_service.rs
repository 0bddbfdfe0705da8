//! A minimal host service: an actix-web app whose own upload handler hands the fan-out to
//! `fanout` and answers at once, and which also mounts fanout's ready-made routes
//! (`POST /photos`, `GET /fanouts/{id}`, `GET /users/{id}/feed`, `GET /healthz`; cargo
//! feature `http`). Copy it into your own service.
//!
//! It takes its settings from `FANOUT_*` environment variables (cargo feature
//! `config-file`); a host with a configuration file of its own deserializes
//! `fanout::Settings` from it instead. It listens on 127.0.0.1:8081:
//!
//! ```sh
//! FANOUT_REDIS_URL=redis://127.0.0.1:6379 cargo run --example upload_service
//! curl -X POST localhost:8081/upload -H 'content-type: application/json' \
//!      -d '{"user_id": 343, "photo_id": 777}'
//! ```

use std::time::Duration;

use actix_web::{post, web, App, HttpResponse, HttpServer};
use fanout::{FanOut, PhotoPosted, PostError};
use serde::Deserialize;

#[derive(Deserialize)]
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
    match tokio::time::timeout(Duration::from_secs(2), fanout.post(posted)).await {
        Ok(Ok(accepted)) => HttpResponse::Accepted().json(serde_json::json!({
            "fanout_id": accepted.fanout_id.0,
            "followers": accepted.followers,
        })),
        Ok(Err(PostError::Overloaded)) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .body("busy, retry later"),
        Ok(Err(e @ (PostError::Unavailable(_) | PostError::Stopped))) => {
            HttpResponse::ServiceUnavailable().body(e.to_string())
        }
        Ok(Err(e)) => HttpResponse::InternalServerError().body(e.to_string()),
        Err(_) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .body("fan-out did not answer in time, retry later"),
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loaded = fanout::settings::load::load(None)?;
    for var in &loaded.unknown_env {
        eprintln!("warning: {var} is not a fanout setting; ignored");
    }
    // Connects to Redis (failing within seconds when it is unreachable) and resumes any
    // fan-out a previous run left unfinished.
    let fanout = FanOut::builder(loaded.settings).start().await?;
    let (app_fanout, routes) = (fanout.clone(), fanout::http::routes(&fanout));
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(app_fanout.clone()))
            .service(upload)
            .configure(routes.clone())
    })
    .bind(("127.0.0.1", 8081))?
    .run()
    .await?;
    // The server has stopped (SIGTERM or Ctrl-C): let batches in flight finish and hand the
    // unfinished fan-outs back for the next start, or another instance, to resume.
    fanout.shutdown(Duration::from_secs(30)).await?;
    Ok(())
}

//! The HTTP routes (cargo feature `http`), for a host to mount into its own actix-web `App`:
//!
//! ```no_run
//! # async fn example(fanout: fanout::FanOut) -> std::io::Result<()> {
//! use actix_web::{App, HttpServer};
//!
//! HttpServer::new(move || App::new().configure(fanout::http::routes(&fanout)))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! - `POST /photos` (`photos.rs`): `{"user_id": 343, "photo_id": 777}` → 202 with the fan-out.
//! - `GET /fanouts/{id}`, `GET /users/{id}/feed`, `GET /healthz` (`queries.rs`).
//!
//! Every error answer is JSON: `{"error": "...", "field": "..."}` (`field` when one is to
//! blame). The routes only use the [`FanOut`] handle, exactly as a host's own handler would.

mod answer;
mod photos;
mod queries;

use actix_web::web;

use crate::handle::FanOut;
use answer::AppState;

pub use answer::error;

/// The routes, ready for `App::configure`. Each call of the returned function (actix-web
/// calls it once per worker) shares the one handle.
pub fn routes(fanout: &FanOut) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let settings = fanout.settings();
    let state = web::Data::new(AppState {
        fanout: fanout.clone(),
        max_body_bytes: settings.http.max_body_bytes,
        max_feed_len: settings.feed.max_len,
    });
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .route("/photos", web::post().to(photos::post_photo))
            .route("/fanouts/{id}", web::get().to(queries::fanout_status))
            .route("/users/{id}/feed", web::get().to(queries::feed))
            .route("/healthz", web::get().to(queries::healthz));
    }
}

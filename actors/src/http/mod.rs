//! The HTTP routes (cargo feature `http`), for a host to mount into its own actix-web `App`:
//!
//! ```no_run
//! # async fn example(fanout: fanout::FanOut) -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{App, HttpServer};
//!
//! let addrs: Vec<std::net::SocketAddr> = vec!["127.0.0.1:8080".parse()?];
//! // Refuses a non-loopback address without tokens, as `fanout serve` does.
//! fanout::http::protected_mode(&fanout.settings().http, &addrs)?;
//! let routes = fanout::http::routes(&fanout)?;
//! HttpServer::new(move || App::new().configure(routes.clone()))
//!     .bind(&addrs[..])?
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! - `POST /photos` (`photos.rs`): `{"user_id": 343, "photo_id": 777}` → 202 with the
//!   fan-out and a `Location` header (its status URL). Needs a write token when
//!   `http.write_token` is set (`auth.rs`).
//! - `DELETE /users/{author}/photos/{photo}` (`lifecycle.rs`): 202 with the delete job, like
//!   `POST /photos`; `PUT` and `DELETE /users/{follower}/following/{author}`: follow and
//!   unfollow, 200 once done. Same write token.
//! - `GET /fanouts/{id}`, `GET /users/{id}/feed` (`queries.rs`): need a read or a write
//!   token when `http.read_token` is set.
//! - `GET /livez` (the process answers), `GET /readyz` (Redis answers and no writer is
//!   degraded), `GET /healthz` (= `/readyz`) (`probes.rs`): always open, for probes.
//!
//! Every error answer is JSON: `{"error": "...", "field": "..."}` (`field` when one is to
//! blame), including a wrong method (405 with `Allow`) and a bad path or query. The routes
//! only use the [`FanOut`] handle, exactly as a host's own handler would.

mod answer;
mod auth;
mod lifecycle;
mod photos;
mod probes;
mod protected;
mod queries;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::handle::FanOut;
use answer::{resource, AppState};
use auth::Access;

pub use answer::error;
pub use auth::TokenError;
pub use protected::{protected_mode, HttpSetupError};

/// The routes, ready for `App::configure` (actix-web calls it once per worker; every
/// worker shares the one handle). Fails when a token file cannot be read.
pub fn routes(
    fanout: &FanOut,
) -> Result<impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static, TokenError> {
    let settings = fanout.settings();
    let access = web::Data::new(Access::from_settings(&settings.http)?);
    let state = web::Data::new(AppState {
        fanout: fanout.clone(),
        max_body_bytes: settings.http.max_body_bytes,
        request_timeout: settings.http.request_timeout(),
        max_feed_len: settings.feed.max_len,
    });
    Ok(move |cfg: &mut web::ServiceConfig| {
        let write = || from_fn(auth::write_scope);
        let read = || from_fn(auth::read_scope);
        cfg.app_data(state.clone())
            .app_data(access.clone())
            .service(
                resource("/photos", "POST").route(web::post().to(photos::post_photo).wrap(write())),
            )
            .service(
                resource("/users/{author}/photos/{photo}", "DELETE")
                    .route(web::delete().to(lifecycle::delete_photo).wrap(write())),
            )
            .service(
                resource("/users/{follower}/following/{author}", "PUT, DELETE")
                    .route(web::put().to(lifecycle::follow).wrap(write()))
                    .route(web::delete().to(lifecycle::unfollow).wrap(write())),
            )
            .service(
                resource("/fanouts/{id}", "GET")
                    .route(web::get().to(queries::fanout_status).wrap(read())),
            )
            .service(
                resource("/users/{id}/feed", "GET")
                    .route(web::get().to(queries::feed).wrap(read())),
            )
            .service(resource("/livez", "GET").route(web::get().to(probes::livez)))
            .service(resource("/readyz", "GET").route(web::get().to(probes::readyz)))
            .service(resource("/healthz", "GET").route(web::get().to(probes::readyz)));
    })
}

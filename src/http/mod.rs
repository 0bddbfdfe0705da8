//! The HTTP service (`fanout serve`): the upload endpoint a host service would otherwise
//! write itself, plus status, feeds, health and metrics. It embeds the core exactly as a
//! host service does: one `FanOut`, and `post` from the upload handler.
//!
//! Routes:
//! - `POST /photos` (`photos.rs`): `{"user_id": 343, "photo_id": 777}` → 202 with the fan-out.
//! - `GET /fanouts/{id}`, `GET /users/{id}/feed`, `GET /healthz` (`queries.rs`).
//! - `GET /metrics` (`metrics.rs`): Prometheus text.
//!
//! Every error answer is JSON: `{"error": "...", "field": "..."}` (`field` when one is to
//! blame).

mod metrics;
mod photos;
mod queries;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use fanout_actors::store::FeedStore;
use fanout_actors::StoreError;

use crate::config::Config;
use crate::{FanOut, LaunchError, PostError, ShutdownReport};

/// What every handler can reach.
struct AppState {
    fanout: FanOut,
    /// Our own connection for reading feeds and health checks.
    feeds: FeedStore,
    max_body_bytes: usize,
    max_feed_len: u64,
}

/// Why the service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The core could not start (bad settings, Redis unreachable).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The feed-reading connection could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The coordinator stopped before the shutdown finished.
    #[error(transparent)]
    Post(#[from] PostError),
}

/// A running service. Stop it with [`RunningService::shutdown`].
pub struct RunningService {
    addr: SocketAddr,
    server: ServerHandle,
    fanout: FanOut,
    grace: Duration,
}

impl RunningService {
    /// Starts the core and the HTTP server on `bind` (port 0 picks a free one). Must run
    /// inside an actix `System`.
    pub async fn start(config: Config, bind: SocketAddr) -> Result<Self, ServeError> {
        let prometheus = metrics::install();
        let http = config.http.clone();
        let feeds = FeedStore::connect(&config.settings).await?;
        let max_feed_len = config.settings.max_len;
        let fanout = FanOut::builder(config).start().await?;
        let state = web::Data::new(AppState {
            fanout: fanout.clone(),
            feeds,
            max_body_bytes: http.max_body_bytes,
            max_feed_len,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::Data::new(prometheus.clone()))
                .configure(routes)
        })
        .workers(http.workers)
        // Signals are ours: the core must drain after the server stops accepting.
        .disable_signals()
        .shutdown_timeout(http.shutdown_timeout.as_secs().max(1))
        .bind(bind)
        .map_err(|source| ServeError::Bind { addr: bind, source })?;
        let addr = server.addrs().first().copied().unwrap_or(bind);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        tracing::info!(%addr, "listening");
        Ok(Self {
            addr,
            server: handle,
            fanout,
            grace: http.shutdown_timeout,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The core it embeds.
    pub fn fanout(&self) -> &FanOut {
        &self.fanout
    }

    /// Graceful stop within `http.shutdown_timeout_ms` in all: no new connections,
    /// requests in flight answered, batches in flight finished, unfinished fan-outs handed
    /// back (their leases released).
    pub async fn shutdown(self) -> Result<ShutdownReport, ServeError> {
        let deadline = std::time::Instant::now() + self.grace;
        let _ = tokio::time::timeout(self.grace, self.server.stop(true)).await;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        Ok(self.fanout.shutdown(left).await?)
    }
}

/// `fanout serve`: runs until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn serve(
    config: Config,
    bind: SocketAddr,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ShutdownReport, ServeError> {
    let service = RunningService::start(config, bind).await?;
    println!("listening on http://{}", service.addr());
    stop.await;
    tracing::info!("stopping: draining batches in flight");
    let report = service.shutdown().await?;
    println!(
        "stopped: {}; {} unfinished fan-out(s) left to resume",
        if report.drained_in_time {
            "every batch in flight finished"
        } else {
            "the grace period ended with batches in flight (their chunks are atomic)"
        },
        report.unfinished
    );
    Ok(report)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/photos", web::post().to(photos::post_photo))
        .route("/fanouts/{id}", web::get().to(queries::fanout_status))
        .route("/users/{id}/feed", web::get().to(queries::feed))
        .route("/healthz", web::get().to(queries::healthz))
        .route("/metrics", web::get().to(metrics::render))
        .default_service(web::to(|| async {
            error(StatusCode::NOT_FOUND, "no such endpoint", None)
        }));
}

/// The JSON error answer.
fn error(status: StatusCode, message: &str, field: Option<&str>) -> HttpResponse {
    let mut body = serde_json::json!({ "error": message });
    if let Some(field) = field {
        body["field"] = field.into();
    }
    HttpResponse::build(status).json(body)
}

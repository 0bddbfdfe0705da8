//! The standalone HTTP service (`fanout serve`): the core's mountable routes
//! (`fanout::http::routes`) plus `GET /metrics`, a JSON 404, an access log and request
//! metrics (`access.rs`), on a server of its own with connection limits and a graceful
//! shutdown. It embeds the core exactly as a host service does: one `FanOut`. Protected
//! mode is checked before anything else: no token, no listening beyond loopback.

mod access;
mod metrics;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use fanout::http::{error, HttpSetupError};
use fanout::operator::Operator;
use fanout::{FanOut, LaunchError, PostError, Settings, SettingsError, ShutdownReport};
use tracing_actix_web::TracingLogger;

/// Why the service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The core could not start (bad settings, Redis unreachable).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The address does not resolve.
    #[error(transparent)]
    Address(#[from] SettingsError),
    /// Protected mode refused the address, or a token file is bad.
    #[error(transparent)]
    Setup(#[from] HttpSetupError),
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
    /// Starts the core and the HTTP server on `bind`, `host:port` (port 0 picks a free
    /// one; a host name binds every address it resolves to). Refuses, before connecting to
    /// anything, an address beyond loopback without tokens (protected mode). Must run inside
    /// an actix `System`.
    pub async fn start(settings: Settings, bind: &str) -> Result<Self, ServeError> {
        let addrs = fanout::settings::resolve_bind(bind)?;
        fanout::http::protected_mode(&settings.http, &addrs)?;
        let prometheus = metrics::install();
        let http = settings.http.clone();
        let fanout = FanOut::builder(settings.clone()).start().await?;
        let routes = fanout::http::routes(&fanout).map_err(HttpSetupError::from)?;
        let ledger = Operator::connect(settings, "fanout-serve-metrics").await?;
        let scrape = web::Data::new(metrics::Scrape::new(prometheus, ledger));
        // actix-web's limit is per worker.
        let per_worker = http.max_connections.div_ceil(http.workers).max(1);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(scrape.clone())
                .configure(routes.clone())
                .route("/metrics", web::get().to(metrics::render))
                .default_service(web::to(|| async {
                    error(StatusCode::NOT_FOUND, "no such endpoint", None)
                }))
                .wrap(from_fn(access::observe))
                .wrap(TracingLogger::<access::AccessLog>::new())
        })
        .workers(http.workers)
        .max_connections(per_worker)
        .client_request_timeout(http.request_timeout())
        // Signals are ours: the core must drain after the server stops accepting.
        .disable_signals()
        .shutdown_timeout(http.shutdown_timeout().as_secs().max(1));
        for addr in &addrs {
            server = server.bind(addr).map_err(|source| ServeError::Bind {
                addr: *addr,
                source,
            })?;
        }
        let addr = server.addrs().first().copied().unwrap_or(addrs[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        tracing::info!(%addr, "listening");
        Ok(Self {
            addr,
            server: handle,
            fanout,
            grace: http.shutdown_timeout(),
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

/// `fanout serve`: runs until `stop` resolves (SIGTERM or Ctrl-C), then shuts down
/// gracefully.
pub async fn serve(
    settings: Settings,
    bind: &str,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ShutdownReport, ServeError> {
    let service = RunningService::start(settings, bind).await?;
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

//! What the service records about each request: an access log line (target
//! `fanout::access`: method, route, status, duration, request id) through
//! tracing-actix-web's request span, the request id echoed as `X-Request-Id`, and the
//! request count and latency by route and status on `/metrics`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// Requests answered, by method, route and status.
pub const HTTP_REQUESTS: &str = "fanout_http_requests_total";
/// Time to answer a request, by method, route and status.
pub const HTTP_DURATION: &str = "fanout_http_request_duration_seconds";

/// Bucket bounds of the request latency histogram, in seconds.
pub const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// When the request arrived (kept in its extensions).
struct Arrived(Instant);

/// The root span of each request, and the access log line when it ends.
pub struct AccessLog;

impl RootSpanBuilder for AccessLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Arrived(Instant::now()));
        tracing_actix_web::root_span!(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome {
            let request = response.request();
            let extensions = request.extensions();
            let elapsed = extensions.get::<Arrived>().map(|a| a.0.elapsed());
            let request_id = extensions.get::<RequestId>().map(ToString::to_string);
            tracing::info!(
                target: "fanout::access",
                parent: &span,
                method = %request.method(),
                route = %route(request.match_pattern()),
                path = request.path(),
                status = response.status().as_u16(),
                duration_ms = elapsed.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
                request_id = request_id.as_deref().unwrap_or(""),
                "request"
            );
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The route's pattern (`/fanouts/{id}`), so that metrics have one series per route and
/// not one per id.
fn route(pattern: Option<String>) -> String {
    pattern.unwrap_or_else(|| "unmatched".to_owned())
}

/// Echoes the request id and records the request's metrics (inside the `TracingLogger`,
/// which sets the id).
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    // Any token is a valid method: only the standard ones become label values.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string);
    let mut response = next.call(request).await?;
    let labels = [
        ("method", method),
        ("route", route(response.request().match_pattern())),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

//! `BenchError`: why the benchmark stopped.

use fanout_cli::local_redis::LocalRedisError;

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("private redis-server: {0}")]
    LocalRedis(#[from] LocalRedisError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tool(String),
    #[error("wrong result: {0}")]
    WrongResult(String),
    #[error("chart: {0}")]
    Chart(String),
    #[error("results: {0}")]
    Json(#[from] serde_json::Error),
}

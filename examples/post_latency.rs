//! Load generator for `POST /photos`: how long the upload endpoint takes to answer for a
//! 1,500,000-follower author and for a 10-follower author, while fan-outs run; once with
//! no API tokens and once with `http.write_token` set (every request then carries
//! `Authorization: Bearer …`), side by side in the same run.
//!
//! Each round starts a private redis-server and the HTTP service (as `fanout serve` does)
//! on loopback, seeds both authors, then alternates posts by the two authors at a fixed
//! rate over keep-alive connections; each celebrity post starts a 1.5 M-follower fan-out,
//! so fan-outs run during the whole measurement. Prints p50/p90/p99/max per author and
//! round, and the ratios.
//!
//! ```sh
//! cargo run --release --example post_latency -- [POSTS_PER_AUTHOR] [INTERVAL_MS]
//! ```

use std::time::{Duration, Instant};

use fanout::operator::Operator;
use fanout::settings::{RedisUrl, Tokens};
use fanout::Settings;
use fanout_cli::local_redis::LocalRedis;
use fanout_cli::serve::RunningService;

const CELEBRITY: u64 = 1;
const SMALL: u64 = 2;
const TOKEN: &str = "post-latency-write-token-0123456789abcdef";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p90, p99 and max of `samples`.
fn quantiles(samples: &[Duration]) -> [Duration; 4] {
    let mut sorted = samples.to_vec();
    sorted.sort();
    [
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.9),
        percentile(&sorted, 0.99),
        sorted[sorted.len() - 1],
    ]
}

/// One round: a fresh redis-server and service, `posts` posts per author; the latencies
/// of the celebrity's and the small author's posts.
async fn round(
    posts: u64,
    interval: Duration,
    token: Option<&str>,
) -> Result<[Vec<Duration>; 2], Box<dyn std::error::Error>> {
    let redis = LocalRedis::start()?;
    let mut settings = Settings::default();
    settings.redis.url = RedisUrl::parse(&redis.url())?;
    // The celebrity posts far faster than its fan-outs finish, on purpose.
    settings.fanout.max_active_jobs_per_author = posts as usize + 1;
    if let Some(token) = token {
        settings.http.write_token = Tokens::parse(token);
    }
    let mut seeding = Operator::connect(settings.clone(), "post-latency").await?;
    seeding
        .seed_followers(CELEBRITY, 1_500_000, 1, false, |_| {})
        .await?;
    seeding
        .seed_followers(SMALL, 10, 2_000_000, false, |_| {})
        .await?;
    let service = RunningService::start(settings, "127.0.0.1:0").await?;
    let url = format!("http://{}/photos", service.addr());
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    // Warm-up: open the keep-alive connection.
    client
        .get(format!("http://{}/livez", service.addr()))
        .send()
        .await?;
    let mut latencies = [Vec::new(), Vec::new()];
    let mut next_photo = 1u64;
    for _ in 0..posts {
        for (slot, author) in [(0, CELEBRITY), (1, SMALL)] {
            let tick = Instant::now();
            let body = format!(r#"{{"user_id": {author}, "photo_id": {next_photo}}}"#);
            next_photo += 1;
            let mut request = client
                .post(&url)
                .insert_header(("content-type", "application/json"));
            if let Some(token) = token {
                request = request.insert_header(("authorization", format!("Bearer {token}")));
            }
            let response = request.send_body(body).await?;
            latencies[slot].push(tick.elapsed());
            if response.status() != awc::http::StatusCode::ACCEPTED {
                return Err(format!("unexpected {}", response.status()).into());
            }
            if let Some(rest) = interval.checked_sub(tick.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
    }
    drop(service);
    Ok(latencies)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let posts: u64 = args.next().map_or(Ok(200), |a| a.parse())?;
    let interval = Duration::from_millis(args.next().map_or(Ok(50), |a| a.parse())?);
    println!("{posts} posts per author, one every {interval:?}, alternating; a fresh redis-server per round");

    println!("\n| round | author | followers | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    let mut p50s = Vec::new();
    for (name, token) in [("no tokens", None), ("write token", Some(TOKEN))] {
        let latencies = round(posts, interval, token).await?;
        for (slot, (author, followers)) in [("celebrity", "1,500,000"), ("small", "10")]
            .iter()
            .enumerate()
        {
            let [p50, p90, p99, max] = quantiles(&latencies[slot]);
            println!(
                "| {name} | {author} | {followers} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                ms(p50),
                ms(p90),
                ms(p99),
                ms(max)
            );
        }
        let all: Vec<Duration> = latencies.concat();
        p50s.push(quantiles(&all));
    }
    let (off, on) = (p50s[0], p50s[1]);
    println!(
        "\nall posts, with tokens / without: p50 {:.2} ms / {:.2} ms = {:.2}x, p99 {:.2} ms / {:.2} ms = {:.2}x",
        ms(on[0]),
        ms(off[0]),
        ms(on[0]) / ms(off[0]),
        ms(on[2]),
        ms(off[2]),
        ms(on[2]) / ms(off[2]),
    );
    Ok(())
}

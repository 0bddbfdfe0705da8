//! Load generator for `POST /photos`: how long the upload endpoint takes to answer for a
//! 1,500,000-follower author and for a 10-follower author, while fan-outs run.
//!
//! It starts a private redis-server and the HTTP service (as `fanout serve` does) on
//! loopback, seeds both authors, then alternates posts by the two authors at a fixed rate
//! over keep-alive connections; each celebrity post starts a 1.5 M-follower fan-out, so
//! fan-outs run during the whole measurement. Prints p50/p90/p99/max per author and the
//! ratios.
//!
//! ```sh
//! cargo run --release --example post_latency -- [POSTS_PER_AUTHOR] [INTERVAL_MS]
//! ```

use std::time::{Duration, Instant};

use fanout::operator::Operator;
use fanout::settings::RedisUrl;
use fanout::Settings;
use fanout_cli::local_redis::LocalRedis;
use fanout_cli::serve::RunningService;

const CELEBRITY: u64 = 1;
const SMALL: u64 = 2;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let posts: u64 = args.next().map_or(Ok(200), |a| a.parse())?;
    let interval = Duration::from_millis(args.next().map_or(Ok(50), |a| a.parse())?);

    let redis = LocalRedis::start()?;
    let mut settings = Settings::default();
    settings.redis.url = RedisUrl::parse(&redis.url())?;
    let mut seeding = Operator::connect(settings.clone(), "post-latency").await?;
    seeding
        .seed_followers(CELEBRITY, 1_500_000, 1, false, |_| {})
        .await?;
    seeding
        .seed_followers(SMALL, 10, 2_000_000, false, |_| {})
        .await?;
    let service = RunningService::start(settings, "127.0.0.1:0".parse()?).await?;
    let url = format!("http://{}/photos", service.addr());
    println!(
        "{posts} posts per author, one every {interval:?}, alternating, against {url} (redis-server on port {})",
        redis.port()
    );

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut latencies = [Vec::new(), Vec::new()];
    let mut next_photo = 1u64;
    // Warm-up: open the keep-alive connection.
    client
        .get(format!("http://{}/healthz", service.addr()))
        .send()
        .await?;
    let started = Instant::now();
    for _ in 0..posts {
        for (slot, author) in [(0, CELEBRITY), (1, SMALL)] {
            let tick = Instant::now();
            let body = format!(r#"{{"user_id": {author}, "photo_id": {next_photo}}}"#);
            next_photo += 1;
            let response = client
                .post(&url)
                .insert_header(("content-type", "application/json"))
                .send_body(body)
                .await?;
            latencies[slot].push(tick.elapsed());
            if response.status() != awc::http::StatusCode::ACCEPTED {
                return Err(format!("unexpected {}", response.status()).into());
            }
            if let Some(rest) = interval.checked_sub(tick.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
    }
    let wall = started.elapsed();
    let running = (1..next_photo).filter(|id| id % 2 == 1).count();
    println!("{running} celebrity fan-outs accepted over {wall:.1?}; they were still running while measured");

    println!("\n| author | followers | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for (slot, (name, followers)) in [("celebrity", "1,500,000"), ("small", "10")]
        .iter()
        .enumerate()
    {
        let mut sorted = latencies[slot].clone();
        sorted.sort();
        let (p50, p90, p99, max) = (
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.9),
            percentile(&sorted, 0.99),
            sorted[sorted.len() - 1],
        );
        println!(
            "| {name} | {followers} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max)
        );
        summary.push((p50, p99));
    }
    println!(
        "\nratio celebrity/small: p50 {:.2}x, p99 {:.2}x",
        ms(summary[0].0) / ms(summary[1].0),
        ms(summary[0].1) / ms(summary[1].1)
    );
    let status = service.fanout().status(fanout::FanoutId(1)).await?;
    if let Some(s) = status {
        println!(
            "first celebrity fan-out at the end: {:?}, {}/{} ranges",
            s.state, s.ranges_done, s.ranges_total
        );
    }
    drop(service);
    Ok(())
}

//! How long a follow and an unfollow take: follower 900,000,001 follows author 1 (800
//! recent posts, made through fanout) and unfollows it again, over and over, with a full
//! feed of 800 photos by another author; first with 1,000 followers of author 1, then
//! with 1,500,000 (its list is then searched in slices, `fanout.follow_scan_slice`). A
//! reader meanwhile reads a feed (`LRANGE 0 49`) on its own connection in a loop: its
//! latency is what the slices cost other clients. Redis's own slow log (everything over
//! 1 ms) then names the longest single command or script of each phase: no script may
//! block Redis for more than 5 ms.
//!
//! ```sh
//! cargo run --release --example follow_latency -- [ROUNDS]
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fanout::settings::RedisUrl;
use fanout::{FanOut, Followed, PhotoPosted, Settings, Unfollowed};
use fanout_cli::local_redis::LocalRedis;

const AUTHOR: u64 = 1;
const OTHER: u64 = 2;
const FOLLOWER: u64 = 900_000_001;
const POSTS: u64 = 800;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "p50 / p99 / max" of `samples`, in ms.
fn summary(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort();
    format!(
        "{:.2} / {:.2} / {:.2} ms",
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(sorted[sorted.len() - 1])
    )
}

/// `followers:{author}` gets the ids `first..first + n` appended.
fn append_followers(
    conn: &mut redis::Connection,
    author: u64,
    first: u64,
    n: u64,
) -> redis::RedisResult<()> {
    let ids: Vec<u64> = (first..first + n).collect();
    let mut pipe = redis::pipe();
    for slice in ids.chunks(10_000) {
        pipe.rpush(format!("followers:{author}"), slice).ignore();
    }
    pipe.exec(conn)
}

/// `rounds` follows and unfollows; their latencies, and the reader's meanwhile.
async fn measure(
    fanout: &FanOut,
    url: &str,
    rounds: usize,
) -> Result<[Vec<Duration>; 3], Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, url) = (stop.clone(), url.to_owned());
        std::thread::spawn(move || -> redis::RedisResult<Vec<Duration>> {
            let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
            let mut reads = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let _: Vec<u64> = redis::cmd("LRANGE")
                    .arg("homefeed:5")
                    .arg(0)
                    .arg(49)
                    .query(&mut conn)?;
                reads.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(reads)
        })
    };
    let (mut follows, mut unfollows) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let change = fanout.follow(Followed::new(FOLLOWER, AUTHOR)).await?;
        follows.push(started.elapsed());
        assert!(change.changed && change.photos > 0, "{change:?}");
        let started = Instant::now();
        let change = fanout.unfollow(Unfollowed::new(FOLLOWER, AUTHOR)).await?;
        unfollows.push(started.elapsed());
        assert!(change.changed, "{change:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().map_err(|_| "the reader panicked")??;
    Ok([follows, unfollows, reads])
}

/// The longest entry of Redis's slow log, "X ms (COMMAND …)", or "< 1 ms".
fn longest(conn: &mut redis::Connection) -> redis::RedisResult<String> {
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG").arg("GET").arg(128).query(conn)?;
    let mut worst: Option<(u64, String)> = None;
    for entry in entries {
        let redis::Value::Array(fields) = entry else {
            continue;
        };
        let micros: u64 = fields
            .get(2)
            .map_or(Ok(0), |v| redis::from_redis_value(v.clone()))?;
        let words: Vec<String> = fields
            .get(3)
            .map_or(Ok(Vec::new()), |v| redis::from_redis_value(v.clone()))?;
        let what = words.first().cloned().unwrap_or_default();
        if worst.as_ref().is_none_or(|(w, _)| micros > *w) {
            worst = Some((micros, what));
        }
    }
    Ok(worst.map_or("< 1 ms".to_owned(), |(micros, what)| {
        format!("{:.2} ms ({what})", micros as f64 / 1000.0)
    }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(200), |a| a.parse())?;
    let redis = LocalRedis::start()?;
    let mut settings = Settings::default();
    settings.redis.url = RedisUrl::parse(&redis.url())?;
    settings.fanout.max_active_jobs_per_author = POSTS as usize + 1;
    let fanout = FanOut::builder(settings).start().await?;
    let mut conn = redis::Client::open(redis.url().as_str())?.get_connection()?;

    // Author 1: 1,000 followers, 800 posts. Author 2: followed by the follower and by 1..=10;
    // its 800 posts (interleaved in time with author 1's) fill the follower's feed.
    append_followers(&mut conn, AUTHOR, 1, 1_000)?;
    append_followers(&mut conn, OTHER, 1, 10)?;
    append_followers(&mut conn, OTHER, FOLLOWER, 1)?;
    let began = Instant::now();
    for i in 0..POSTS {
        for (author, photo) in [(AUTHOR, 10_000_000 + i), (OTHER, 20_000_000 + i)] {
            let at = 1_700_000_000_000 + 2 * i + author;
            let accepted = fanout.post(PhotoPosted::at(author, photo, at)).await?;
            fanout
                .wait(accepted.fanout_id, Duration::from_millis(5), |_| {})
                .await?;
        }
    }
    eprintln!(
        "posted 2 × {POSTS} photos in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(1_000)
        .exec(&mut conn)?;
    println!("| author's followers | follow p50 / p99 / max | unfollow p50 / p99 / max | feed read p50 / p99 / max meanwhile | longest command in Redis |");
    println!("|---:|---:|---:|---:|---:|");
    for (followers, rounds) in [(1_000u64, rounds), (1_500_000, rounds.min(20))] {
        let have: u64 = redis::cmd("LLEN")
            .arg(format!("followers:{AUTHOR}"))
            .query(&mut conn)?;
        if have < followers {
            append_followers(&mut conn, AUTHOR, 1_000_000 + have, followers - have)?;
        }
        redis::cmd("SLOWLOG").arg("RESET").exec(&mut conn)?;
        let [follows, unfollows, reads] = measure(&fanout, &redis.url(), rounds).await?;
        println!(
            "| {followers} | {} | {} | {} | {} |",
            summary(&follows),
            summary(&unfollows),
            summary(&reads),
            longest(&mut conn)?
        );
    }
    fanout.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

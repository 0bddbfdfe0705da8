//! What a run found: the table printed at the end, the ratios and targets, and the JSON
//! written under the results folder (`chart` draws the PNG beside it).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::args::Args;
use crate::contenders::Run;
use crate::error::BenchError;
use crate::layout::Layout;
use crate::probe::Latency;
use crate::state::Start;

/// Targets of issue 5 (list layout, cap 800, 1.5 M followers).
const TARGET_OF_LIMIT: f64 = 0.8;
const TARGET_OF_PEER: f64 = 50.0;
/// A deletion's followers/s against its post's, same run and state.
const TARGET_DELETE_OF_POST: f64 = 0.8;
const TARGET_RSS_MIB: f64 = 100.0;
const TARGET_READ_P99_MS: f64 = 10.0;

/// All runs of one contender from one starting state.
#[derive(Serialize)]
pub struct Tally {
    pub start: Start,
    pub contender: String,
    pub what: String,
    pub followers: u64,
    pub seconds: Vec<f64>,
    pub median_s: f64,
    pub followers_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub read_latency: Option<Latency>,
    #[serde(skip)]
    reads: Vec<Duration>,
}

impl Tally {
    pub fn new(start: Start, contender: String, what: String, followers: u64) -> Self {
        Self {
            start,
            contender,
            what,
            followers,
            seconds: Vec::new(),
            median_s: 0.0,
            followers_per_s: 0.0,
            peak_rss_mib: None,
            read_latency: None,
            reads: Vec::new(),
        }
    }

    pub fn add(&mut self, run: &Run, reads: Vec<Duration>) {
        self.seconds.push(run.elapsed.as_secs_f64());
        self.median_s = median(&self.seconds);
        self.followers_per_s = self.followers as f64 / self.median_s;
        if let Some(kib) = run.peak_rss_kib {
            let mib = kib as f64 / 1024.0;
            self.peak_rss_mib = Some(self.peak_rss_mib.map_or(mib, |m: f64| m.max(mib)));
        }
        self.reads.extend(reads);
        self.read_latency = Latency::of(self.reads.clone());
    }
}

/// fanout's speed over another contender's, in one state.
#[derive(Serialize)]
pub struct Ratio {
    pub start: Start,
    /// The contender measured (`fanout`, or `fanout delete` against `fanout`'s post).
    pub what: String,
    pub of: String,
    /// Of the medians.
    pub ratio: f64,
    /// Round by round, where both ran every round: how much the ratio moves between runs.
    pub per_round: Vec<f64>,
    pub target: Option<f64>,
}

/// The machine the numbers come from.
#[derive(Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub redis: String,
}

/// Everything one run found; serialised as the JSON result.
#[derive(Serialize)]
pub struct Report {
    pub unix_time: u64,
    /// `git describe` of the tree the benchmark ran from, when known.
    pub commit: String,
    /// fanout's settings in the runs labelled "fanout": the defaults, but for these.
    pub fanout_settings: Vec<String>,
    pub machine: Machine,
    pub layout: Layout,
    pub cap: u64,
    pub followers: u64,
    pub peer_followers: u64,
    pub runs: usize,
    pub results: Vec<Tally>,
    pub ratios: Vec<Ratio>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Report {
    pub fn new(args: &Args, conn: &mut redis::Connection) -> Result<Self, BenchError> {
        let info: redis::InfoDict = redis::cmd("INFO").arg("server").query(conn)?;
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_default();
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|m| m.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or(0.0);
        let commit = std::process::Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Ok(Self {
            unix_time: now_ms() / 1000,
            commit,
            fanout_settings: vec![
                format!("FANOUT_FEED_LAYOUT={}", args.layout.as_str()),
                format!("FANOUT_FEED_MAX_LEN={}", args.cap),
            ],
            machine: Machine {
                cpu,
                cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
                memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
                kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
                redis: info.get("redis_version").unwrap_or_default(),
            },
            layout: args.layout,
            cap: args.cap,
            followers: args.followers,
            peer_followers: args.peer_followers,
            runs: args.runs,
            results: Vec::new(),
            ratios: Vec::new(),
        })
    }

    pub fn add_state(&mut self, start: Start, tallies: Vec<Tally>) {
        let find = |name: &str| tallies.iter().find(|t| t.contender == name);
        if let Some(fanout) = find("fanout") {
            for (of, target) in [
                ("limit", Some(TARGET_OF_LIMIT)),
                ("limit, push only", None),
                ("celery", Some(TARGET_OF_PEER)),
                ("celery, pipelined", None),
            ] {
                if let Some(other) = find(of) {
                    let per_round = if other.seconds.len() == fanout.seconds.len() {
                        // Same followers in both: the speed ratio is the time ratio.
                        other
                            .seconds
                            .iter()
                            .zip(&fanout.seconds)
                            .map(|(o, f)| o / f)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    self.ratios.push(Ratio {
                        start,
                        what: "fanout".to_owned(),
                        of: of.to_owned(),
                        ratio: fanout.followers_per_s / other.followers_per_s,
                        per_round,
                        target,
                    });
                }
            }
        }
        // A deletion against the post it deletes, same state, same followers.
        if let (Some(post), Some(delete)) = (find("fanout"), find("fanout delete")) {
            let per_round = post
                .seconds
                .iter()
                .zip(&delete.seconds)
                .map(|(p, d)| p / d)
                .collect();
            self.ratios.push(Ratio {
                start,
                what: "fanout delete".to_owned(),
                of: "fanout (its post)".to_owned(),
                ratio: delete.followers_per_s / post.followers_per_s,
                per_round,
                target: Some(TARGET_DELETE_OF_POST),
            });
        }
        self.results.extend(tallies);
    }

    /// Prints the table and writes the JSON, as `bench-<unix time>.json` and `latest.json`
    /// in `folder`. Returns the path of the former without its extension, for the chart
    /// drawn beside it.
    pub fn save(&self, folder: &Path) -> Result<PathBuf, BenchError> {
        self.print();
        std::fs::create_dir_all(folder)?;
        let stem = folder.join(format!("bench-{}", self.unix_time));
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(stem.with_extension("json"), &json)?;
        std::fs::write(folder.join("latest.json"), &json)?;
        Ok(stem)
    }

    fn print(&self) {
        let m = &self.machine;
        println!(
            "\n{} × {}, {} GiB, Linux {}, Redis {}; {} layout, cap {}; median of {} runs \
             (the peer: one run)\n",
            m.cores,
            m.cpu,
            m.memory_gib,
            m.kernel,
            m.redis,
            self.layout.as_str(),
            self.cap,
            self.runs
        );
        println!(
            "| start | contender | followers | s (median) | followers/s | peak RSS | read p50 / p99 / max |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|");
        for t in &self.results {
            println!(
                "| {} | {}: {} | {} | {:.2} | {} | {} | {} |",
                t.start.describe(),
                t.contender,
                t.what,
                thousands(t.followers as f64),
                t.median_s,
                thousands(t.followers_per_s),
                t.peak_rss_mib
                    .map(|m| format!("{m:.1} MiB"))
                    .unwrap_or_else(|| "–".to_owned()),
                t.read_latency
                    .as_ref()
                    .map(|l| format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms))
                    .unwrap_or_else(|| "–".to_owned()),
            );
        }
        println!();
        for r in &self.ratios {
            let verdict = match r.target {
                Some(t) if r.ratio >= t => format!("  (target ≥ {t}: met)"),
                Some(t) => format!("  (target ≥ {t}: MISSED)"),
                None => String::new(),
            };
            let spread = match r
                .per_round
                .iter()
                .copied()
                .reduce(f64::min)
                .zip(r.per_round.iter().copied().reduce(f64::max))
            {
                Some((lo, hi)) if r.per_round.len() > 1 => format!(" (rounds: {lo:.2}–{hi:.2})"),
                _ => String::new(),
            };
            println!(
                "{}: {} / {} = {:.2}{spread}{verdict}",
                r.start.describe(),
                r.what,
                r.of,
                r.ratio
            );
        }
        let fanouts = self.results.iter().filter(|t| t.contender == "fanout");
        for t in fanouts {
            if let Some(rss) = t.peak_rss_mib {
                let met = if rss < TARGET_RSS_MIB {
                    "met"
                } else {
                    "MISSED"
                };
                println!(
                    "{}: fanout peak RSS {rss:.1} MiB (target < {TARGET_RSS_MIB}: {met})",
                    t.start.describe()
                );
            }
            if let Some(l) = &t.read_latency {
                let met = if l.p99_ms < TARGET_READ_P99_MS {
                    "met"
                } else {
                    "MISSED"
                };
                println!(
                    "{}: read p99 during fanout {:.2} ms over {} reads (target < {TARGET_READ_P99_MS} ms: {met})",
                    t.start.describe(),
                    l.p99_ms,
                    l.reads
                );
            }
        }
    }
}

/// The middle value; the mean of the two middle ones for an even count.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

/// 1234567.8 → "1,234,568".
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }

    #[test]
    fn the_median_of_runs_sets_the_speed() {
        let mut t = Tally::new(Start::New, "x".into(), "x".into(), 1_000);
        for s in [4.0, 1.0, 2.0] {
            let run = Run {
                elapsed: Duration::from_secs_f64(s),
                peak_rss_kib: Some((s * 1024.0) as u64),
            };
            t.add(&run, vec![Duration::from_millis(1)]);
        }
        assert_eq!((t.median_s, t.followers_per_s), (2.0, 500.0));
        assert_eq!(t.peak_rss_mib, Some(4.0));
        assert_eq!(t.read_latency.map(|l| l.reads), Some(3));
    }
}

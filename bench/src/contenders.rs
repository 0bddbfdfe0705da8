//! The contenders, each timed from its start to the last feed written:
//! - the limit: fanout's writes as a raw command stream through `redis-cli --pipe`;
//! - `fanout post`, the real binary, through its actors (its peak RSS read from `/proc`);
//! - the Celery peer (`celery_peer/`), a real worker fed through a Redis broker.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::layout::Layout;
use crate::state::AUTHOR;

/// What one timed run gave.
pub struct Run {
    pub elapsed: Duration,
    /// Peak resident set of the contender's process, KiB (where we own the process).
    pub peak_rss_kib: Option<u64>,
}

/// The command stream for the limit, as raw protocol.
#[derive(Clone, Copy)]
pub enum Stream {
    /// What fanout's writes amount to: push and trim (ZADD NX + ZREMRANGEBYRANK for zsets).
    PushAndTrim,
    /// Push only: all fanout writes when no feed is full (it trims only a feed over the cap).
    PushOnly,
}

/// Writes the stream for followers `1..=count` to `path`.
pub fn write_stream(
    path: &Path,
    stream: Stream,
    layout: Layout,
    count: u64,
    photo: u64,
    cap: u64,
    score: u64,
) -> Result<(), BenchError> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let (photo, last, over, score) = (
        photo.to_string(),
        (cap - 1).to_string(),
        format!("-{}", cap + 1),
        score.to_string(),
    );
    for follower in 1..=count {
        let key = format!("homefeed:{follower}");
        match layout {
            Layout::List => {
                resp(&mut out, &["LPUSH", &key, &photo])?;
                if let Stream::PushAndTrim = stream {
                    resp(&mut out, &["LTRIM", &key, "0", &last])?;
                }
            }
            Layout::Zset => {
                resp(&mut out, &["ZADD", &key, "NX", &score, &photo])?;
                if let Stream::PushAndTrim = stream {
                    resp(&mut out, &["ZREMRANGEBYRANK", &key, "0", &over])?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn resp(out: &mut impl Write, args: &[&str]) -> std::io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for arg in args {
        write!(out, "${}\r\n{arg}\r\n", arg.len())?;
    }
    Ok(())
}

/// Pipes `stream` through one `redis-cli --pipe` connection.
pub fn limit(port: u16, stream: &Path) -> Result<Run, BenchError> {
    let started = Instant::now();
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(File::open(stream)?)
        .output()
        .map_err(|e| BenchError::Tool(format!("redis-cli: {e}")))?;
    let elapsed = started.elapsed();
    let said = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !said.contains("errors: 0,") {
        return Err(BenchError::Tool(format!(
            "redis-cli --pipe failed: {}{}",
            said.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(Run {
        elapsed,
        peak_rss_kib: None,
    })
}

/// `fanout post` of `photo` by the benchmark's author, with `env` on top of the defaults.
pub fn fanout(
    binary: &Path,
    url: &str,
    photo: u64,
    layout: Layout,
    cap: u64,
    env: &[(String, String)],
) -> Result<Run, BenchError> {
    let mut command = fanout_command(binary, url, "post", (AUTHOR, photo), layout);
    command
        .env("FANOUT_FEED_MAX_LEN", cap.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)));
    timed(command, binary, "post")
}

/// `fanout post` of `photo` by the benchmark's author on the Redis Cluster of `nodes`
/// (`FANOUT_REDIS_CLUSTER_NODES`), then `fanout verify` of it (untimed).
pub fn fanout_on_cluster(binary: &Path, nodes: &str, photo: u64) -> Result<Run, BenchError> {
    let on_cluster = |subcommand: &str| {
        let mut command = fanout_command(binary, "", subcommand, (AUTHOR, photo), Layout::List);
        command.env("FANOUT_REDIS_CLUSTER_NODES", nodes);
        command
    };
    let run = timed(on_cluster("post"), binary, "post")?;
    let checked = on_cluster("verify").stdin(Stdio::null()).output()?;
    if !checked.status.success() {
        return Err(BenchError::WrongResult(format!(
            "fanout on the cluster: {}{}",
            String::from_utf8_lossy(&checked.stdout).trim(),
            String::from_utf8_lossy(&checked.stderr).trim()
        )));
    }
    Ok(run)
}

/// `fanout delete` of `photo` by the benchmark's author, with the defaults.
pub fn delete(binary: &Path, url: &str, photo: u64, layout: Layout) -> Result<Run, BenchError> {
    let command = fanout_command(binary, url, "delete", (AUTHOR, photo), layout);
    timed(command, binary, "delete")
}

/// Runs `command` (`fanout SUBCOMMAND …`) to its end: its time and peak RSS, or an error
/// with the last lines it logged.
fn timed(mut command: Command, binary: &Path, subcommand: &str) -> Result<Run, BenchError> {
    let log = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen()?)
        .spawn()
        .map_err(|e| BenchError::Tool(format!("{}: {e}", binary.display())))?;
    let (status, peak_rss_kib) = wait_measuring(child)?;
    let elapsed = started.elapsed();
    if status != 0 {
        let said = std::fs::read_to_string(log.path()).unwrap_or_default();
        return Err(BenchError::Tool(format!(
            "fanout {subcommand} exited with status {status}: {}",
            said.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(Run {
        elapsed,
        peak_rss_kib: Some(peak_rss_kib),
    })
}

/// `fanout --redis-url URL SUBCOMMAND --author A --photo P` (`post` or `verify`) on feeds of
/// `layout` (no `--redis-url` when `url` is empty: the caller says where Redis is). Run outside the repository, so that no `config.toml` is read: every contender
/// gets the defaults and its variant's variables only (and an older binary is not handed
/// settings it does not know).
fn fanout_command(
    binary: &Path,
    url: &str,
    subcommand: &str,
    (author, photo): (u64, u64),
    layout: Layout,
) -> Command {
    let binary = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let mut command = Command::new(binary);
    command.current_dir(std::env::temp_dir());
    if !url.is_empty() {
        command.args(["--redis-url", url]);
    }
    command
        .arg(subcommand)
        .args([
            "--author",
            &author.to_string(),
            "--photo",
            &photo.to_string(),
        ])
        .env("FANOUT_FEED_LAYOUT", layout.as_str());
    command
}

/// Waits for `child` and returns its exit status and peak RSS (KiB), read from the
/// kernel's high-water mark (`VmHWM`) every 5 ms while it runs. Not `wait4`'s `ru_maxrss`:
/// Linux carries the parent's peak into a spawned child's, so it would report the
/// benchmark's own memory (66 MiB instead of 6).
fn wait_measuring(mut child: Child) -> Result<(i32, u64), BenchError> {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        // Read before checking for exit: once reaped, the file is gone.
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            peak = peak.max(high_water_kib(&status).unwrap_or(0));
        }
        if let Some(exit) = child.try_wait()? {
            let code = exit
                .code()
                .unwrap_or_else(|| 128 + exit.signal().unwrap_or(0));
            return Ok((code, peak));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `VmHWM` of a `/proc/PID/status` text, in KiB.
fn high_water_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `fanout verify` (untimed): every follower of `author` holds `photo` exactly once, or
/// the run is wrong.
pub fn verify(
    binary: &Path,
    url: &str,
    author: u64,
    photo: u64,
    layout: Layout,
    contender: &str,
) -> Result<(), BenchError> {
    let output = fanout_command(binary, url, "verify", (author, photo), layout)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Tool(format!("{}: {e}", binary.display())))?;
    if output.status.success() {
        return Ok(());
    }
    Err(BenchError::WrongResult(format!(
        "{contender}: {}{}",
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// A running Celery worker of the peer app (one process, `--pool solo`).
pub struct Peer {
    worker: Child,
    python: PathBuf,
    dir: PathBuf,
    url: String,
}

impl Peer {
    /// Starts the worker. A first `run` waits until it is up (the task waits in the broker).
    pub fn start(python: &Path, dir: &Path, url: &str) -> Result<Self, BenchError> {
        // Not canonicalised: that would resolve the venv's symlink to the bare interpreter.
        let python = &std::path::absolute(python)?;
        let mut command = Command::new(python);
        command
            .args(["-m", "celery", "-A", "peer", "worker", "--pool", "solo"])
            .args(["--concurrency", "1", "--loglevel", "WARNING"])
            .args([
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ])
            .current_dir(dir)
            .env("PEER_REDIS_URL", url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        fanout_cli::local_redis::dies_with_parent(&mut command);
        let worker = command
            .spawn()
            .map_err(|e| BenchError::Tool(format!("{}: {e}", python.display())))?;
        Ok(Peer {
            worker,
            python: python.to_owned(),
            dir: dir.to_owned(),
            url: url.to_owned(),
        })
    }

    /// One fan-out of `photo` by `author` (`plain`: a round trip per follower; otherwise a
    /// pipeline per batch). Returns the run and the number of followers it covered.
    pub fn run(&self, author: u64, photo: u64, pipelined: bool) -> Result<(Run, u64), BenchError> {
        let output = Command::new(&self.python)
            .arg("drive.py")
            .arg(author.to_string())
            .arg(photo.to_string())
            .arg(if pipelined { "pipelined" } else { "plain" })
            .current_dir(&self.dir)
            .env("PEER_REDIS_URL", &self.url)
            .output()?;
        let said = String::from_utf8_lossy(&output.stdout);
        let parsed = said.split_whitespace().collect::<Vec<_>>();
        match (output.status.success(), parsed.as_slice()) {
            (true, [seconds, covered]) => {
                let seconds: f64 = seconds.parse().map_err(|_| peer_said(&output))?;
                let covered: u64 = covered.parse().map_err(|_| peer_said(&output))?;
                Ok((
                    Run {
                        elapsed: Duration::from_secs_f64(seconds),
                        peak_rss_kib: None,
                    },
                    covered,
                ))
            }
            _ => Err(peer_said(&output)),
        }
    }
}

fn peer_said(output: &std::process::Output) -> BenchError {
    BenchError::Tool(format!(
        "the Celery peer's driver failed: {} {}",
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ")
    ))
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.worker.kill();
        let _ = self.worker.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_water_is_read_from_proc_status() {
        let status = "Name:\tfanout\nVmPeak:\t  900 kB\nVmHWM:\t    6272 kB\nVmRSS:\t 6000 kB\n";
        assert_eq!(high_water_kib(status), Some(6272));
        assert_eq!(high_water_kib("Name: x"), None);
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(high_water_kib(&own).is_some_and(|kib| kib > 0));
    }
}

//! The command line: what to run (`Args`) and the extra fanout configurations to time
//! beside the default one (`Variant`).

use std::path::PathBuf;
use std::str::FromStr;

use clap::Parser;

use crate::layout::Layout;
use crate::state::Start;

/// fanout vs redis-cli --pipe vs the Celery peer, side by side.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// Followers fanned out by the limit and by fanout.
    #[arg(long, default_value_t = 1_500_000)]
    pub followers: u64,
    /// Followers fanned out by the Celery peer (the first of the same ids).
    #[arg(long, default_value_t = 200_000)]
    pub peer_followers: u64,
    /// Timed runs of the limit and of fanout per state (the median is reported); the runs
    /// alternate between contenders so drift hits all alike.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Feed cap.
    #[arg(long, default_value_t = 800)]
    pub cap: u64,
    /// Feed layout for the limit and fanout (the peer writes lists, so it is skipped for zset).
    #[arg(long, value_enum, default_value_t = Layout::List)]
    pub layout: Layout,
    /// Starting states to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "new,steady")]
    pub states: Vec<Start>,
    /// The fanout binary.
    #[arg(long, default_value = "target/release/fanout")]
    pub fanout: PathBuf,
    /// Another fanout configuration to time beside the default, as
    /// `LABEL:KEY=VALUE,...` with FANOUT_* variables, and `bin=PATH` for another binary.
    /// Repeatable.
    #[arg(long = "variant", value_name = "LABEL:KEY=VALUE,...")]
    pub variants: Vec<Variant>,
    /// Python of a venv with Celery (bench/run makes one); without it the peer is skipped.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Where the Celery peer's app lives.
    #[arg(long, default_value = "bench/celery_peer")]
    pub peer_dir: PathBuf,
    /// Instead of the contenders: `fanout post` against one redis-server and against
    /// private Redis Clusters of each of these numbers of masters (no replicas, new
    /// feeds), in one run (`--cluster 2,3`); results in cluster-latest.json.
    #[arg(long, value_delimiter = ',', value_name = "MASTERS,...")]
    pub cluster: Vec<usize>,
    /// Where results go: bench-<unix time>.json/.png and latest.json/.png.
    #[arg(long, default_value = "bench/results")]
    pub results: PathBuf,
}

/// A fanout configuration timed beside the default one.
#[derive(Clone, Debug)]
pub struct Variant {
    pub label: String,
    pub binary: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (label, settings) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}': expected LABEL:KEY=VALUE,..."))?;
        let mut variant = Variant {
            label: label.to_owned(),
            binary: None,
            env: Vec::new(),
        };
        for setting in settings.split(',').filter(|p| !p.is_empty()) {
            match setting.split_once('=') {
                Some(("bin", path)) => variant.binary = Some(PathBuf::from(path)),
                Some((key, value)) if key.starts_with("FANOUT_") => {
                    variant.env.push((key.to_owned(), value.to_owned()))
                }
                _ => return Err(format!("'{setting}': expected FANOUT_*=VALUE or bin=PATH")),
            }
        }
        Ok(variant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_take_fanout_settings_and_a_binary() {
        let v: Variant = "old:bin=/tmp/fanout,FANOUT_CHUNK_SIZE=1000"
            .parse()
            .unwrap();
        assert_eq!(v.label, "old");
        assert_eq!(v.binary, Some(PathBuf::from("/tmp/fanout")));
        assert_eq!(v.env, vec![("FANOUT_CHUNK_SIZE".into(), "1000".into())]);
        assert!("no colon".parse::<Variant>().is_err());
        assert!("x:CHUNK=1".parse::<Variant>().is_err());
    }
}

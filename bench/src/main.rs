//! `fanout-bench`: fanout against what Redis itself can absorb and against the Celery task
//! it replaces, in one run, against one private redis-server, from the same starting states.
//! Run it through `bench/run`, which builds fanout, installs the peer's venv and passes
//! `--python`. See README "Performance".

mod args;
mod chart;
mod clusters;
mod contenders;
mod error;
mod layout;
mod probe;
mod report;
mod run;
mod state;

use clap::Parser;

fn main() {
    let args = args::Args::parse();
    let ran = match args.cluster.is_empty() {
        true => run::run(&args),
        false => clusters::run(&args, &args.cluster),
    };
    if let Err(e) = ran {
        eprintln!("fanout-bench: {e}");
        std::process::exit(1);
    }
}

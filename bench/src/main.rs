//! `fanout-bench`: fanout against what Redis itself can absorb and against the Celery task
//! it replaces, in one run, against one private redis-server, from the same starting states.
//! Run it through `bench/run`, which builds fanout, installs the peer's venv and passes
//! `--python`. See README "Performance".

mod args;
mod chart;
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
    if let Err(e) = run::run(&args) {
        eprintln!("fanout-bench: {e}");
        std::process::exit(1);
    }
}

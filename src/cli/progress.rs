//! Progress display: a bar on a terminal, plain lines otherwise (logs, CI, pipes).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total: u64, what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            eprintln!("{what}: {} followers…", indicatif::HumanCount(total));
            return Self { bar: None };
        }
        let bar = ProgressBar::new(total).with_message(what.to_owned());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>9} [{bar:40}] {human_pos}/{human_len} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar: Some(bar) }
    }

    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

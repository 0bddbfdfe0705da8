//! The `fanout` command line: `serve`, `seed`, `post`, `verify`, `jobs`, `retry-dead` and
//! `demo`. See `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}

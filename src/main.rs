//! The `fanout` command line: `seed`, `post`, `verify` and `demo`. See `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}

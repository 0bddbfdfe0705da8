//! The `fanout` command line: `serve`, `seed`, `post`, `verify`, `jobs`, `retry-dead`,
//! `demo` and `completions`. See `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`fanout jobs | head`) instead of panicking on the broken pipe.
    // SAFETY: called first thing, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::run()
}

//! The signals that end a command: Ctrl-C, SIGTERM and SIGHUP.

/// Ctrl-C, SIGTERM or SIGHUP (the terminal closed). The handlers are installed when this is
/// called, not when the future is first polled: a signal that arrives while the command's
/// first step runs (the demo starting its redis-server, say) is caught, not fatal.
pub fn interrupted() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .map(signal);
    async move {
        let [Ok(mut interrupt), Ok(mut term), Ok(mut hangup)] = signals else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
            _ = hangup.recv() => {}
        }
    }
}

//! A request to stop, shared by the signal handler and the work it interrupts: the cluster
//! connection refuses new writes once it is set, so the object in flight finishes and nothing
//! after it starts; the daemon's sleep between cycles ends at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Cheap to clone; every clone sees the same request.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks everything holding a clone to stop.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Returns once a stop is requested (at once if it was already).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.requested() {
                return;
            }
            notified.await;
        }
    }

    /// Requests a stop on SIGTERM or SIGINT (Ctrl-C), from a task on the current runtime.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let shutdown = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: finishing the object in flight"),
                _ = int.recv() => tracing::info!("SIGINT: finishing the object in flight"),
            }
            shutdown.request();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_wakes_every_waiter_and_later_ones_return_at_once() {
        let shutdown = Shutdown::new();
        let waiter = tokio::spawn({
            let s = shutdown.clone();
            async move { s.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!shutdown.requested());
        shutdown.request();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.clone().wait()).await.unwrap();
        assert!(shutdown.requested());
    }
}

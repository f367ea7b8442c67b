//! Clean-ups handed to the runtime by work dropped before it finished.
//!
//! Rust has no async `Drop`: a cluster guard, an upload or a DBFS write
//! dropped mid-way (a timeout, a cancelled task, Ctrl-C) spawns its
//! clean-up (delete the cluster, abort the upload, remove the torn file) on
//! the current runtime. A program that is about to exit, or that wants to
//! see the clean-up done, awaits [`wait_for_background_cleanups`]: a
//! runtime that shuts down first drops those tasks half-way.

use std::future::Future;
use std::sync::OnceLock;

use tokio::sync::watch;
use tracing::Instrument;

use crate::error::Result;

/// Background work in flight: clean-ups, and calls whose answer may still
/// need undoing. A count, not a list of tasks, so several waiters (on
/// several runtimes) each wait for all of it.
fn in_flight() -> &'static watch::Sender<usize> {
    static IN_FLIGHT: OnceLock<watch::Sender<usize>> = OnceLock::new();
    IN_FLIGHT.get_or_init(|| watch::Sender::new(0))
}

/// Counts one piece of background work until it is dropped: finished,
/// failed, or cancelled with its runtime.
struct Counted;

impl Counted {
    fn start() -> Self {
        in_flight().send_modify(|n| *n += 1);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        in_flight().send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Hand `cleanup` to a background task on the current runtime, counted
/// for [`wait_for_background_cleanups`]. `what` names it in the log should
/// it fail.
pub(crate) fn spawn_cleanup(what: String, cleanup: impl Future<Output = Result<()>> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let counted = Counted::start();
            runtime.spawn(
                async move {
                    if let Err(e) = cleanup.await {
                        tracing::error!("{what}: cleanup failed: {e}");
                    }
                    drop(counted);
                }
                .in_current_span(),
            );
        }
        Err(_) => tracing::error!("{what}: dropped outside a runtime, cannot clean up"),
    }
}

/// What a call made, undone when dropped unless the caller took it: in
/// the channel between the call's task and its caller, it cannot be lost.
struct Armed<T: Send + 'static> {
    made: Option<T>,
    undo: Option<Box<dyn FnOnce(T) -> crate::service::runtime::BoxFuture<()> + Send>>,
    what: String,
}

impl<T: Send + 'static> Armed<T> {
    fn take(mut self) -> Option<T> {
        self.made.take()
    }
}

impl<T: Send + 'static> Drop for Armed<T> {
    fn drop(&mut self) {
        if let (Some(made), Some(undo)) = (self.made.take(), self.undo.take()) {
            let undone = undo(made);
            spawn_cleanup(std::mem::take(&mut self.what), async move {
                undone.await;
                Ok(())
            });
        }
    }
}

/// Send `call` on a task of its own, so that its answer is never lost to a
/// cancel: when the caller is dropped before it has the answer (a timeout
/// around an upload that is still initiating), `undo` gets what the call
/// made (the session or handle whose id the caller never learnt) and
/// removes it. Answers the call's own result.
#[cfg_attr(not(feature = "files"), allow(dead_code))]
pub(crate) async fn undo_if_abandoned<T, U, UF>(
    what: String,
    call: impl Future<Output = Result<T>> + Send + 'static,
    undo: U,
) -> Result<T>
where
    T: Send + 'static,
    U: FnOnce(T) -> UF + Send + 'static,
    UF: Future<Output = ()> + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel::<Result<Armed<T>>>();
    let gone = format!("{what}: the call's task ended without an answer");
    let label = what.clone();
    spawn_cleanup(what, async move {
        let undo: Box<dyn FnOnce(T) -> crate::service::runtime::BoxFuture<()> + Send> =
            Box::new(move |made| Box::pin(undo(made)));
        let armed = call.await.map(|made| Armed { made: Some(made), undo: Some(undo), what: label });
        // Refused (the caller is gone), the answer is dropped here, and so undone.
        let _ = answer.send(armed);
        Ok(())
    });
    match answered.await {
        Ok(Ok(armed)) => armed.take().ok_or_else(|| crate::Error::new(crate::ErrorKind::Cancelled, gone)),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(crate::Error::new(crate::ErrorKind::Cancelled, gone)),
    }
}

/// Background work still running: clean-ups, and calls whose answer may
/// need undoing.
pub fn pending_background_cleanups() -> usize {
    *in_flight().borrow()
}

/// Wait until the clean-ups that dropped guards, uploads and writes handed
/// to background tasks have finished (also those started while waiting),
/// whichever task or runtime started them.
pub async fn wait_for_background_cleanups() {
    let mut count = in_flight().subscribe();
    let _ = count.wait_for(|n| *n == 0).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_waits_for_all_background_work_even_across_runtimes() {
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        spawn_cleanup("test".into(), async move {
            let _ = released.await;
            Ok(())
        });
        // A second runtime's work counts too, and is let go when that runtime ends.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async { spawn_cleanup("other".into(), std::future::pending()) });
        })
        .join()
        .expect("thread");
        let waiters = (tokio::spawn(wait_for_background_cleanups()), tokio::spawn(wait_for_background_cleanups()));
        tokio::task::yield_now().await;
        assert!(!waiters.0.is_finished() && !waiters.1.is_finished(), "both wait while work is in flight");
        let _ = release.send(());
        let _ = tokio::join!(waiters.0, waiters.1);
        assert_eq!(pending_background_cleanups(), 0);
    }
}

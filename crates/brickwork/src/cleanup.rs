//! Clean-ups handed to the runtime by work dropped before it finished.
//!
//! Rust has no async `Drop`: a cluster guard, an upload or a DBFS write
//! dropped mid-way (a timeout, a cancelled task, Ctrl-C) spawns its
//! clean-up (delete the cluster, abort the upload, remove the torn file) on
//! the current runtime. A program that is about to exit, or that wants to
//! see the clean-up done, awaits [`wait_for_background_cleanups`]: a
//! runtime that shuts down first drops those tasks half-way.

use std::future::Future;
use std::sync::Mutex;

use tokio::task::JoinHandle;

use crate::error::Result;

static BACKGROUND: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Hand `cleanup` to a background task on the current runtime, keeping its
/// handle for [`wait_for_background_cleanups`]; finished handles are dropped
/// as new ones come, so the list holds only work in progress. `what` names
/// it in the log should it fail.
pub(crate) fn spawn_cleanup(what: String, cleanup: impl Future<Output = Result<()>> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let handle = runtime.spawn(async move {
                if let Err(e) = cleanup.await {
                    tracing::error!("{what}: cleanup failed: {e}");
                }
            });
            let mut pending = BACKGROUND.lock().unwrap_or_else(|p| p.into_inner());
            pending.retain(|h| !h.is_finished());
            pending.push(handle);
        }
        Err(_) => tracing::error!("{what}: dropped outside a runtime, cannot clean up"),
    }
}

/// Send `call` on a task of its own, so that its answer is never lost to a
/// cancel: when the caller is dropped before the answer comes (a timeout
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
    UF: Future<Output = ()> + Send,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    let gone = format!("{what}: the call's task ended without an answer");
    spawn_cleanup(what, async move {
        if let Err(Ok(made)) = answer.send(call.await) {
            undo(made).await;
        }
        Ok(())
    });
    answered.await.unwrap_or_else(|_| Err(crate::Error::new(crate::ErrorKind::Cancelled, gone)))
}

/// Background clean-ups still running.
pub fn pending_background_cleanups() -> usize {
    let mut pending = BACKGROUND.lock().unwrap_or_else(|p| p.into_inner());
    pending.retain(|h| !h.is_finished());
    pending.len()
}

/// Wait for the clean-ups that dropped guards, uploads and writes handed
/// to background tasks (also those spawned while waiting).
pub async fn wait_for_background_cleanups() {
    loop {
        let pending: Vec<JoinHandle<()>> = std::mem::take(&mut *BACKGROUND.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return;
        }
        for handle in pending {
            let _ = handle.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finished_background_cleanups_are_not_kept() {
        for _ in 0..200 {
            spawn_cleanup("test".into(), async { Ok(()) });
        }
        wait_for_background_cleanups().await;
        for _ in 0..200 {
            spawn_cleanup("test".into(), async { Ok(()) });
            tokio::task::yield_now().await;
        }
        let kept = BACKGROUND.lock().unwrap_or_else(|p| p.into_inner()).len();
        assert!(kept < 200, "{kept} handles kept for 200 finished cleanups");
        wait_for_background_cleanups().await;
        assert_eq!(pending_background_cleanups(), 0);
    }
}

//! Local files that transfers write: whole or not at all.

use std::future::Future;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::Result;

/// Fetch into `local` with `.part` appended, then rename it into place:
/// a failed fetch leaves nothing at `local` (and no `.part` behind).
pub(super) async fn into_place<F, Fut>(local: &Path, fetch: F) -> Result<u64>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let mut part = local.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    // Dropped mid-way (a cancelled download), the guard removes the part file too.
    let mut guard = RemoveOnDrop(Some(part.clone()));
    let fetched = fetch(part.clone()).await;
    guard.0 = None;
    match fetched {
        Ok(length) => {
            tokio::fs::rename(&part, local).await.map_err(|e| Error::local_io("rename", &part, e))?;
            Ok(length)
        }
        Err(err) => {
            let _ = tokio::fs::remove_file(&part).await;
            Err(err)
        }
    }
}

/// Removes a part file left by a download dropped before it finished.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(part) = self.0.take() {
            // A blocking call, but one: a cancelled download must not leave its file.
            let _ = std::fs::remove_file(part);
        }
    }
}

//! DBFS streaming helpers: whole-file write and read in 1 MB blocks, and a
//! recursive listing.

use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;

use crate::error::Error;
use crate::service::files::{
    DbfsAddBlockRequest, DbfsApi, DbfsCloseRequest, DbfsCreateRequest, DbfsListRequest, DbfsReadRequest, FileInfo,
};
use crate::Result;

/// The DBFS limit for one block or read.
const BLOCK: usize = 1024 * 1024;

impl DbfsApi {
    /// Write `data` to `path` through a streaming handle (create, add-block, close).
    pub async fn write_file(&self, path: &str, data: impl Into<Bytes>, overwrite: bool) -> Result<()> {
        let data = data.into();
        let created =
            self.create(&DbfsCreateRequest { path: Some(path.to_string()), overwrite: Some(overwrite) }).await?;
        let handle = created.handle.ok_or_else(|| Error::decode("dbfs/create returned no handle"))?;
        for chunk in data.chunks(BLOCK) {
            let block = base64::engine::general_purpose::STANDARD.encode(chunk);
            self.add_block(&DbfsAddBlockRequest { handle: Some(handle), data: Some(block) }).await?;
        }
        self.close(&DbfsCloseRequest { handle: Some(handle) }).await
    }

    /// Read the whole file at `path`, 1 MB at a time.
    pub async fn read_file(&self, path: &str) -> Result<Bytes> {
        let mut out = BytesMut::new();
        loop {
            let request = DbfsReadRequest {
                path: Some(path.to_string()),
                offset: Some(out.len() as i64),
                length: Some(BLOCK as i64),
            };
            let chunk = self.read(&request).await?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(chunk.data.unwrap_or_default())
                .map_err(|e| Error::decode(format!("dbfs/read of {path} is not valid base64: {e}")))?;
            if data.is_empty() {
                return Ok(out.freeze());
            }
            out.extend_from_slice(&data);
        }
    }

    /// Every file under `path`, depth first (directories are descended, not returned).
    pub async fn list_recursive(&self, path: &str) -> Result<Vec<FileInfo>> {
        let mut pending = vec![path.to_string()];
        let mut files = Vec::new();
        while let Some(dir) = pending.pop() {
            let entries: Vec<FileInfo> = self.list(DbfsListRequest { path: Some(dir) }).try_collect().await?;
            for entry in entries {
                match (entry.is_dir, entry.path.clone()) {
                    (Some(true), Some(sub)) => pending.push(sub),
                    _ => files.push(entry),
                }
            }
        }
        Ok(files)
    }
}

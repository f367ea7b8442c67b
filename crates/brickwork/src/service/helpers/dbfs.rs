//! DBFS helpers: whole-file write and read in 1 MB blocks, and a recursive
//! listing. (Files API transfers are in `uploads` and `downloads`.)

use base64::Engine;
use bytes::{Bytes, BytesMut};

use crate::error::Error;
use crate::service::files::{DbfsApi, FileInfo};
use crate::Result;

/// The DBFS limit for one block or read.
const BLOCK: usize = 1024 * 1024;

impl DbfsApi {
    /// Write `data` to `path` through a streaming handle (create, add-block, close).
    pub async fn write_file(&self, path: &str, data: impl Into<Bytes>, overwrite: bool) -> Result<()> {
        let data = data.into();
        let created = self.create(path).overwrite(overwrite).await?;
        let handle = created.handle.ok_or_else(|| Error::decode("dbfs/create returned no handle"))?;
        for chunk in data.chunks(BLOCK) {
            let block = base64::engine::general_purpose::STANDARD.encode(chunk);
            self.add_block(handle, block).await?;
        }
        self.close(handle).await
    }

    /// Read the whole file at `path`, 1 MB at a time.
    pub async fn read_file(&self, path: &str) -> Result<Bytes> {
        let mut out = BytesMut::new();
        loop {
            let offset = i64::try_from(out.len()).map_err(|_| Error::decode(format!("{path} is too large")))?;
            let chunk = self.read(path).offset(offset).length(BLOCK as i64).await?;
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
            let entries: Vec<FileInfo> = self.list(dir).try_collect().await?;
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

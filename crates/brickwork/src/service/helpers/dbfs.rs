//! DBFS helpers: whole-file write and read in 1 MB blocks, and a recursive
//! listing. (Files API transfers are in `uploads` and `downloads`.)

use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::downloads::into_place;
use super::uploads::read_full;
use crate::error::Error;
use crate::service::files::{DbfsApi, FileInfo};
use crate::Result;

/// The DBFS limit for one block or read.
const BLOCK: usize = 1024 * 1024;

impl DbfsApi {
    /// Write `data` to `path` through a streaming handle (create, add-block, close).
    pub async fn write_file(&self, path: &str, data: impl Into<Bytes>, overwrite: bool) -> Result<()> {
        let data = data.into();
        self.write_from(path, &data[..], overwrite).await.map(drop)
    }

    /// Write everything `reader` yields to `path`, one 1 MB block at a time
    /// (create, add-block, close), in bounded memory; answers the length.
    pub async fn write_from(&self, path: &str, mut reader: impl AsyncRead + Unpin, overwrite: bool) -> Result<u64> {
        let created = self.create(path).overwrite(overwrite).await?;
        let handle = created.handle.ok_or_else(|| Error::decode("dbfs/create returned no handle"))?;
        let mut written = 0;
        loop {
            let block = read_full(&mut reader, BLOCK)
                .await
                .map_err(|e| Error::local_io("read", Path::new("(the data for DBFS)"), e))?;
            if block.is_empty() {
                break;
            }
            written += block.len() as u64;
            self.add_block(handle, base64::engine::general_purpose::STANDARD.encode(&block)).await?;
        }
        self.close(handle).await?;
        Ok(written)
    }

    /// Read the whole file at `path`, 1 MB at a time.
    pub async fn read_file(&self, path: &str) -> Result<Bytes> {
        let mut out = Vec::new();
        self.read_into(path, &mut out).await?;
        Ok(out.into())
    }

    /// Download the file at `path` into the local file `local`, 1 MB at a
    /// time, and answer its length; as with the Files API's `download_to`,
    /// the data goes to `local` with `.part` appended and is renamed into
    /// place only when whole.
    pub async fn download_to(&self, path: &str, local: impl AsRef<Path>) -> Result<u64> {
        into_place(local.as_ref(), |part| async move {
            let mut file = tokio::fs::File::create(&part).await.map_err(|e| Error::local_io("create", &part, e))?;
            let length = self.read_into(path, &mut file).await?;
            file.sync_all().await.map_err(|e| Error::local_io("sync", &part, e))?;
            Ok(length)
        })
        .await
    }

    /// Stream the file at `path` into `writer`, 1 MB at a time, in bounded
    /// memory; answers its length.
    pub async fn read_into(&self, path: &str, writer: &mut (impl AsyncWrite + Unpin)) -> Result<u64> {
        let mut offset: u64 = 0;
        loop {
            let at = i64::try_from(offset).map_err(|_| Error::decode(format!("{path} is too large")))?;
            let chunk = self.read(path).offset(at).length(BLOCK as i64).await?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(chunk.data.unwrap_or_default())
                .map_err(|e| Error::decode(format!("dbfs/read of {path} is not valid base64: {e}")))?;
            if data.is_empty() {
                writer.flush().await.map_err(|e| Error::local_io("write", Path::new("(the output)"), e))?;
                return Ok(offset);
            }
            writer.write_all(&data).await.map_err(|e| Error::local_io("write", Path::new("(the output)"), e))?;
            offset += data.len() as u64;
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

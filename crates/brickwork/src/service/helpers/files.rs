//! Files API downloads streamed to disk (resumed after a dropped connection),
//! and DBFS helpers: whole-file write and read in 1 MB blocks, and a
//! recursive listing.

use std::path::{Path, PathBuf};

use base64::Engine;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, ErrorKind};
use crate::service::files::{DbfsApi, FileInfo, FilesApi};
use crate::service::runtime::encode_path_value;
use crate::transport::{header, Method, StreamingResponse};
use crate::Result;

/// How many times a download picks up after a dropped connection.
const RESUMES: u32 = 5;

impl FilesApi {
    /// Download the file at `file_path` (`/Volumes/...`) into `local`,
    /// streamed in bounded memory, and return its length. A connection that
    /// drops mid-body is picked up where it stopped (a `Range` request), up
    /// to five times; the result is checked against the announced length. The
    /// data goes to `local` with `.part` appended and is renamed into place
    /// only when whole, so a failed download leaves nothing at `local`.
    pub async fn download_to(&self, file_path: &str, local: impl AsRef<Path>) -> Result<u64> {
        let local = local.as_ref();
        let mut part = local.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        match self.download_into(file_path, &part).await {
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

    async fn download_into(&self, file_path: &str, part: &Path) -> Result<u64> {
        let path = format!("/api/2.0/fs/files{}", encode_path_value(file_path));
        let mut file = tokio::fs::File::create(part).await.map_err(|e| Error::local_io("create", part, e))?;
        let mut written: u64 = 0;
        let mut total: Option<u64> = None;
        let mut resumes = 0;
        loop {
            let mut request = self.client().api().request(Method::GET, path.as_str());
            if written > 0 {
                request = request.header(header::RANGE, range_from(written)?);
            }
            let mut response = request.send_streaming().await?;
            if written > 0 && !continues_at(&response, written, total) {
                // The whole file again, or another part of it, or a file that
                // changed length meanwhile: start over rather than stitch.
                file = reopen(part).await?;
                written = 0;
                total = None;
                if response.status() == 206 {
                    resumes += 1;
                    if resumes > RESUMES {
                        return Err(Error::decode(format!("download of {file_path}: the ranges answered do not fit")));
                    }
                    continue;
                }
            }
            total = total.or_else(|| announced_total(&response));
            match copy_body(&mut response, &mut file, part, &mut written).await {
                Ok(()) => break,
                Err(err) if err.kind() == ErrorKind::Transport && resumes < RESUMES => {
                    resumes += 1;
                    tracing::debug!(written, resumes, "download of {file_path} interrupted: resuming: {err}");
                }
                Err(err) => return Err(err),
            }
        }
        file.flush().await.map_err(|e| Error::local_io("write", part, e))?;
        file.sync_all().await.map_err(|e| Error::local_io("sync", part, e))?;
        match total {
            Some(total) if total != written => Err(Error::decode(format!(
                "download of {file_path} is truncated: {written} bytes of the {total} announced"
            ))),
            _ => Ok(written),
        }
    }
}

/// Append the body to `file`, counting what was written.
async fn copy_body(
    response: &mut StreamingResponse,
    file: &mut tokio::fs::File,
    part: &Path,
    written: &mut u64,
) -> Result<()> {
    while let Some(chunk) = response.chunk().await? {
        file.write_all(&chunk).await.map_err(|e| Error::local_io("write", part, e))?;
        *written += chunk.len() as u64;
    }
    Ok(())
}

/// A 206 answer's `Content-Range` (`bytes START-END/TOTAL`): its start,
/// and its total when known (`*` is not).
fn content_range(response: &StreamingResponse) -> Option<(u64, Option<u64>)> {
    if response.status() != 206 {
        return None;
    }
    let range = response.headers().get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (span, whole) = range.trim().strip_prefix("bytes ")?.split_once('/')?;
    let start = span.split_once('-')?.0.trim().parse().ok()?;
    Some((start, whole.trim().parse().ok()))
}

/// Whether a resumed answer is the rest of the same file: a 206 that starts
/// at `offset` and names the total first announced.
fn continues_at(response: &StreamingResponse, offset: u64, total: Option<u64>) -> bool {
    content_range(response).is_some_and(|(start, whole)| start == offset && total.is_none_or(|t| whole == Some(t)))
}

/// The file's whole length: `Content-Range`'s total for a partial answer,
/// else the body's length.
fn announced_total(response: &StreamingResponse) -> Option<u64> {
    if response.status() == 206 {
        return content_range(response).and_then(|(_, total)| total);
    }
    response.content_length()
}

fn range_from(offset: u64) -> Result<header::HeaderValue> {
    header::HeaderValue::from_str(&format!("bytes={offset}-")).map_err(|e| Error::config(format!("bad range: {e}")))
}

async fn reopen(part: &Path) -> Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(part)
        .await
        .map_err(|e| Error::local_io("open", part, e))
}

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

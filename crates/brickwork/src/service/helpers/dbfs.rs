//! DBFS transfers of any size in bounded memory, 1 MB at a time: data that
//! fits in one block goes in one `put`, larger data through a streaming
//! handle (create, add-block, close); reads go block by block. A failed
//! write leaves no file behind. Also a recursive listing. (Files API
//! transfers are in `uploads` and `downloads`.)

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::local::into_place;
use super::progress::{Progress, ProgressFn, Tracker};
use super::uploads::{check_length, read_full, Reader, Source};
use crate::error::Error;
use crate::service::files::{DbfsApi, FileInfo};
use crate::Result;

/// The DBFS limit for one block, one read, and one `put` of inline data.
const BLOCK: usize = 1024 * 1024;

fn encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

impl DbfsApi {
    /// Write `data` to `path` (see [`write_from`](Self::write_from)).
    pub async fn write_file(&self, path: &str, data: impl Into<Bytes>, overwrite: bool) -> Result<()> {
        let data = data.into();
        let reader = std::io::Cursor::new(data);
        self.write_from(path, reader).overwrite(overwrite).await.map(drop)
    }

    /// Upload the local file at `local` to `path`, 1 MB at a time, in
    /// bounded memory; answers the length.
    pub fn upload_from(&self, path: impl Into<String>, local: impl AsRef<Path>) -> DbfsUpload {
        DbfsUpload::new(self.clone(), path.into(), Source::File(local.as_ref().to_path_buf()))
    }

    /// Write everything `reader` yields to `path`, 1 MB at a time, in
    /// bounded memory; answers the length.
    pub fn write_from(&self, path: impl Into<String>, reader: impl AsyncRead + Send + Unpin + 'static) -> DbfsUpload {
        DbfsUpload::new(self.clone(), path.into(), Source::Stream(Box::new(reader)))
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
    pub fn download_to(&self, path: impl Into<String>, local: impl AsRef<Path>) -> DbfsDownload {
        DbfsDownload { dbfs: self.clone(), path: path.into(), local: local.as_ref().to_path_buf(), progress: None }
    }

    /// Stream the file at `path` into `writer`, 1 MB at a time, in bounded
    /// memory; answers its length.
    pub async fn read_into(&self, path: &str, writer: &mut (impl AsyncWrite + Unpin)) -> Result<u64> {
        self.read_blocks(path, writer, &Tracker::new(None, None)).await
    }

    async fn read_blocks(&self, path: &str, writer: &mut (impl AsyncWrite + Unpin), tracker: &Tracker) -> Result<u64> {
        let output = |e| Error::local_io("write", Path::new("(the output)"), e);
        let mut offset: u64 = 0;
        loop {
            let at = i64::try_from(offset).map_err(|_| Error::decode(format!("{path} is too large")))?;
            let chunk = self.read(path).offset(at).length(BLOCK as i64).await?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(chunk.data.unwrap_or_default())
                .map_err(|e| Error::decode(format!("dbfs/read of {path} is not valid base64: {e}")))?;
            if data.is_empty() {
                writer.flush().await.map_err(output)?;
                return Ok(offset);
            }
            writer.write_all(&data).await.map_err(output)?;
            offset += data.len() as u64;
            tracker.add(data.len() as u64);
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

/// A DBFS write being set up; it starts when awaited.
#[must_use = "a write does nothing until awaited"]
pub struct DbfsUpload {
    dbfs: DbfsApi,
    path: String,
    source: Source,
    overwrite: bool,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for DbfsUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbfsUpload")
            .field("path", &self.path)
            .field("source", &self.source.label())
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

impl DbfsUpload {
    fn new(dbfs: DbfsApi, path: String, source: Source) -> Self {
        DbfsUpload { dbfs, path, source, overwrite: false, progress: None }
    }

    /// Replace an existing file (default: fail with `ResourceAlreadyExists`).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Call `callback` as blocks are confirmed written.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<u64> {
        let (label, mut reader, total) = self.source.open().await?;
        let tracker = Tracker::new(total, self.progress);
        let first = read_block(&mut reader, &label).await?;
        if first.len() < BLOCK {
            // All of it fits in one block: one call.
            let length = first.len() as u64;
            self.dbfs.put(self.path.clone()).contents(encode(&first)).overwrite(self.overwrite).await?;
            tracker.add(length);
            return Ok(length);
        }
        let torn = TornFile::create(&self.dbfs, &self.path, self.overwrite).await?;
        let handle = torn.handle;
        let mut guard = DiscardOnDrop(Some(torn.clone()));
        let written = async {
            let mut block = first;
            while !block.is_empty() {
                self.dbfs.add_block(handle, encode(&block)).await?;
                tracker.add(block.len() as u64);
                block = read_block(&mut reader, &label).await?;
            }
            check_length(&self.path, &tracker, total)?;
            self.dbfs.close(handle).await.map(drop)
        };
        let outcome = written.await;
        if outcome.is_err() {
            // Still armed while this runs: cancelled during it, the guard discards again.
            torn.discard().await;
        }
        guard.0 = None;
        outcome.map(|()| tracker.done())
    }
}

/// A file being written through a handle, until it is closed.
#[derive(Clone)]
struct TornFile {
    dbfs: DbfsApi,
    handle: i64,
    path: String,
}

impl TornFile {
    /// Open a handle to write `path`. The call runs on its own task: a
    /// write dropped before the answer came cannot learn the handle, so the
    /// task discards the file itself.
    async fn create(dbfs: &DbfsApi, path: &str, overwrite: bool) -> Result<TornFile> {
        let (dbfs, path) = (dbfs.clone(), path.to_string());
        let what = format!("DBFS write to {path}");
        let create = async move {
            let created = dbfs.create(path.clone()).overwrite(overwrite).await?;
            let handle = created.handle.ok_or_else(|| Error::decode("dbfs/create returned no handle"))?;
            Ok(TornFile { dbfs, handle, path })
        };
        crate::cleanup::undo_if_abandoned(what, create, TornFile::discard).await
    }

    /// Best effort, so no torn file is left: the handle closed, the file removed.
    async fn discard(self) {
        let _ = self.dbfs.close(self.handle).await;
        let _ = self.dbfs.delete(self.path).await;
    }
}

/// Discards the file when a write is dropped (cancelled) before it finished.
struct DiscardOnDrop(Option<TornFile>);

impl Drop for DiscardOnDrop {
    fn drop(&mut self) {
        if let Some(torn) = self.0.take() {
            let what = format!("DBFS write to {}", torn.path);
            crate::cleanup::spawn_cleanup(what, async move {
                torn.discard().await;
                Ok(())
            });
        }
    }
}

async fn read_block(reader: &mut Reader, label: &Path) -> Result<Bytes> {
    read_full(reader, BLOCK).await.map_err(|e| Error::local_io("read", label, e))
}

run_on_await!(DbfsUpload => u64);

/// A DBFS download being set up; it starts when awaited.
#[must_use = "a download does nothing until awaited"]
pub struct DbfsDownload {
    dbfs: DbfsApi,
    path: String,
    local: PathBuf,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for DbfsDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbfsDownload").field("path", &self.path).field("local", &self.local).finish_non_exhaustive()
    }
}

impl DbfsDownload {
    /// Call `callback` as blocks arrive (with the file's size as the total).
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<u64> {
        let total = match &self.progress {
            Some(_) => self.dbfs.get_status(self.path.clone()).await?.file_size.and_then(|s| u64::try_from(s).ok()),
            None => None,
        };
        let tracker = Tracker::new(total, self.progress.clone());
        let (dbfs, path) = (&self.dbfs, self.path.as_str());
        into_place(&self.local, |part| async move {
            let mut file = tokio::fs::File::create(&part).await.map_err(|e| Error::local_io("create", &part, e))?;
            let length = dbfs.read_blocks(path, &mut file, &tracker).await?;
            tracker.finish(length);
            file.sync_all().await.map_err(|e| Error::local_io("sync", &part, e))?;
            Ok(length)
        })
        .await
    }
}

run_on_await!(DbfsDownload => u64);

//! Workspace upload and download, as the official `workspace.upload/download`:
//! multipart imports (from memory or streamed from a file) and direct-download
//! exports (to memory or streamed to disk).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::local::into_place;
use super::progress::{Progress, ProgressFn, Tracker};
use crate::error::Error;
use crate::service::workspace::{ExportFormat, ImportFormat, Language, WorkspaceApi};
use crate::transport::{header, Method, Piece, StreamingResponse};
use crate::Result;

/// How [`WorkspaceApi::upload`] imports content.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Import format (default `AUTO`: a notebook if the source has a notebook header, else a file).
    pub format: ImportFormat,
    /// Notebook language, needed with `SOURCE`.
    pub language: Option<Language>,
    /// Replace an existing object.
    pub overwrite: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions { format: ImportFormat::Auto, language: None, overwrite: false }
    }
}

impl UploadOptions {
    /// A notebook in `language` from its source.
    pub fn notebook(language: Language) -> Self {
        UploadOptions { format: ImportFormat::Source, language: Some(language), overwrite: false }
    }

    /// Replace an existing object.
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// The import format.
    pub fn format(mut self, format: ImportFormat) -> Self {
        self.format = format;
        self
    }
}

impl WorkspaceApi {
    /// Import `content` at `path`, sent as the official SDKs send it: a
    /// `multipart/form-data` import with the data as a file part, so no
    /// base64 and room for workspace files past the 10 MB JSON limit.
    /// Answers the bytes sent; starts when awaited.
    pub fn upload(&self, path: &str, content: impl Into<Bytes>, options: UploadOptions) -> ObjectUpload {
        ObjectUpload::new(self, path, Content::Data(content.into()), options)
    }

    /// Import the local file at `local` at `path`, as [`upload`](Self::upload)
    /// does, streamed from disk in bounded memory (and re-read if the
    /// request is retried); answers the bytes sent. Starts when awaited.
    pub fn upload_from(&self, path: &str, local: impl AsRef<Path>, options: UploadOptions) -> ObjectUpload {
        ObjectUpload::new(self, path, Content::File(local.as_ref().to_path_buf()), options)
    }

    /// The import, the content's `length` bytes reported to `tracker` as
    /// they go out (the form's own fields not counted).
    async fn import_form(
        &self,
        path: &str,
        content: Piece,
        length: u64,
        options: &UploadOptions,
        tracker: Arc<Tracker>,
    ) -> Result<()> {
        let mut fields = vec![("path", path), ("format", options.format.as_str())];
        if let Some(language) = &options.language {
            fields.push(("language", language.as_str()));
        }
        if options.overwrite {
            fields.push(("overwrite", "true"));
        }
        let form = Form::new(&fields);
        let before = form.head.len() as u64;
        self.client()
            .api()
            .request(Method::POST, IMPORT)
            .header(header::CONTENT_TYPE, form.content_type()?)
            .on_sent(Arc::new(move |sent| tracker.reach(sent.saturating_sub(before).min(length))))
            .pieces(vec![Piece::Data(form.head), content, Piece::Data(form.tail)])
            .send()
            .await
            .map(drop)
    }

    /// Export the object at `path` in `format` (`SOURCE` for notebooks) as
    /// its raw bytes (`direct_download`, as the official SDKs' `download`),
    /// checked against the announced length. Starts when awaited.
    pub fn download(&self, path: &str, format: ExportFormat) -> ObjectExport {
        ObjectExport { workspace: self.clone(), path: path.to_string(), format, progress: None }
    }

    /// Export the object at `path` in `format` into the local file `local`
    /// and answer its length: streamed to disk in bounded memory, to `local`
    /// with `.part` appended, renamed into place only when whole and of the
    /// announced length. Starts when awaited.
    pub fn download_to(&self, path: &str, local: impl AsRef<Path>, format: ExportFormat) -> ObjectDownload {
        ObjectDownload {
            workspace: self.clone(),
            path: path.to_string(),
            local: local.as_ref().to_path_buf(),
            format,
            progress: None,
        }
    }

    async fn export_stream(&self, path: &str, format: ExportFormat) -> Result<StreamingResponse> {
        let query = serde_json::json!({"path": path, "format": format.as_str(), "direct_download": true});
        self.client().api().request(Method::GET, EXPORT).query(&query).send_streaming().await
    }
}

/// An export that ended short of its announced length is refused.
fn check_whole(path: &str, received: u64, announced: Option<u64>) -> Result<()> {
    match announced {
        Some(announced) if announced != received => {
            Err(Error::decode(format!("export of {path} is truncated: {received} bytes of the {announced} announced")))
        }
        _ => Ok(()),
    }
}

/// What a workspace import sends.
enum Content {
    Data(Bytes),
    File(PathBuf),
}

/// A workspace import ([`WorkspaceApi::upload`] from memory,
/// [`WorkspaceApi::upload_from`] from a local file); it starts when awaited
/// and answers the bytes sent.
#[must_use = "an upload does nothing until awaited"]
pub struct ObjectUpload {
    workspace: WorkspaceApi,
    path: String,
    content: Content,
    options: UploadOptions,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for ObjectUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let content = match &self.content {
            Content::Data(data) => format!("{} bytes", data.len()),
            Content::File(local) => local.display().to_string(),
        };
        f.debug_struct("ObjectUpload")
            .field("path", &self.path)
            .field("content", &content)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ObjectUpload {
    fn new(workspace: &WorkspaceApi, path: &str, content: Content, options: UploadOptions) -> Self {
        ObjectUpload { workspace: workspace.clone(), path: path.to_string(), content, options, progress: None }
    }

    /// Call `callback` as the content's bytes go out (a retried request
    /// reports only new highs), and once at the end.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<u64> {
        let ObjectUpload { workspace, path, content, options, progress } = self;
        let (piece, length) = match content {
            Content::Data(data) => {
                let length = data.len() as u64;
                (Piece::Data(data), length)
            }
            Content::File(local) => {
                let metadata = tokio::fs::metadata(&local).await.map_err(|e| Error::local_io("read", &local, e))?;
                (Piece::File(local), metadata.len())
            }
        };
        let tracker = Arc::new(Tracker::new(Some(length), progress));
        workspace.import_form(&path, piece, length, &options, Arc::clone(&tracker)).await?;
        tracker.finish(length);
        Ok(length)
    }
}

run_on_await!(ObjectUpload => u64);

/// A workspace export to memory ([`WorkspaceApi::download`]); it starts
/// when awaited and answers the object's bytes.
#[must_use = "a download does nothing until awaited"]
pub struct ObjectExport {
    workspace: WorkspaceApi,
    path: String,
    format: ExportFormat,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for ObjectExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectExport").field("path", &self.path).field("format", &self.format).finish_non_exhaustive()
    }
}

impl ObjectExport {
    /// Call `callback` as bytes arrive, and once at the end.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<Bytes> {
        let ObjectExport { workspace, path, format, progress } = self;
        let mut export = workspace.export_stream(&path, format).await?;
        let announced = export.content_length();
        let tracker = Tracker::new(announced, progress);
        let mut out = Vec::new();
        while let Some(chunk) = export.chunk().await? {
            out.extend_from_slice(&chunk);
            tracker.add(chunk.len() as u64);
        }
        check_whole(&path, out.len() as u64, announced)?;
        tracker.finish(out.len() as u64);
        Ok(out.into())
    }
}

run_on_await!(ObjectExport => Bytes);

/// A workspace export to a local file ([`WorkspaceApi::download_to`]); it
/// starts when awaited and answers the bytes written.
#[must_use = "a download does nothing until awaited"]
pub struct ObjectDownload {
    workspace: WorkspaceApi,
    path: String,
    local: PathBuf,
    format: ExportFormat,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for ObjectDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectDownload")
            .field("path", &self.path)
            .field("local", &self.local)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl ObjectDownload {
    /// Call `callback` as bytes arrive, and once at the end.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<u64> {
        let ObjectDownload { workspace, path, local, format, progress } = self;
        let path = path.as_str();
        into_place(&local, |part| async move {
            let mut export = workspace.export_stream(path, format).await?;
            let announced = export.content_length();
            let tracker = Tracker::new(announced, progress);
            let mut file = tokio::fs::File::create(&part).await.map_err(|e| Error::local_io("create", &part, e))?;
            let mut written: u64 = 0;
            while let Some(chunk) = export.chunk().await? {
                file.write_all(&chunk).await.map_err(|e| Error::local_io("write", &part, e))?;
                written += chunk.len() as u64;
                tracker.add(chunk.len() as u64);
            }
            file.flush().await.map_err(|e| Error::local_io("write", &part, e))?;
            file.sync_all().await.map_err(|e| Error::local_io("sync", &part, e))?;
            check_whole(path, written, announced)?;
            tracker.finish(written);
            Ok(written)
        })
        .await
    }
}

run_on_await!(ObjectDownload => u64);

const IMPORT: &str = "/api/2.0/workspace/import";
const EXPORT: &str = "/api/2.0/workspace/export";

/// A `multipart/form-data` body around one file part: the text fields and
/// the file part's header before the data, the closing boundary after it.
struct Form {
    boundary: String,
    head: Bytes,
    tail: Bytes,
}

impl Form {
    fn new(fields: &[(&str, &str)]) -> Self {
        // Random and long: the data is streamed, so it cannot be searched for
        // the boundary first; a collision is as likely as guessing 128 bits.
        let boundary = format!("brickwork-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let mut head = String::new();
        for (name, value) in fields {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"content\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = format!("\r\n--{boundary}--\r\n");
        Form { boundary, head: head.into(), tail: tail.into() }
    }

    fn content_type(&self) -> Result<header::HeaderValue> {
        header::HeaderValue::from_str(&format!("multipart/form-data; boundary={}", self.boundary))
            .map_err(|e| Error::config(format!("bad multipart boundary: {e}")))
    }
}

//! Workspace upload and download, as the official `workspace.upload/download`.

use base64::Engine;
use bytes::Bytes;

use crate::error::Error;
use crate::service::workspace::{ExportFormat, ImportFormat, Language, WorkspaceApi};
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
    /// Import `content` at `path`.
    pub async fn upload(&self, path: &str, content: impl Into<Bytes>, options: UploadOptions) -> Result<()> {
        let content = base64::engine::general_purpose::STANDARD.encode(content.into());
        let call = self.import(path).content(content).format(options.format).overwrite(options.overwrite);
        match options.language {
            Some(language) => call.language(language).await,
            None => call.await,
        }
    }

    /// Export the object at `path` in `format` (`SOURCE` for notebooks) and decode it.
    pub async fn download(&self, path: &str, format: ExportFormat) -> Result<Bytes> {
        let exported = self.export(path).format(format).await?;
        let content = exported.content.unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map(Bytes::from)
            .map_err(|e| Error::decode(format!("export of {path} is not valid base64: {e}")))
    }
}

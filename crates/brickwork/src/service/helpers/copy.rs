//! Copies between this machine, Unity Catalog volumes and DBFS, as the
//! official CLI's `fs cp` makes them: one file, or (recursively) every file
//! of a tree, each streamed in bounded memory with the transfers of
//! `uploads`, `downloads` and `dbfs`. A copy between two workspace paths
//! pipes the download straight into the upload.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::progress::{Progress, ProgressFn};
use crate::error::{Error, ErrorKind};
use crate::service::WorkspaceClient;
use crate::Result;

/// The bytes held between the two halves of a workspace-to-workspace copy.
const PIPE_BUFFER: usize = 1024 * 1024;

/// Where a file is: as the official CLI reads a path, `dbfs:/Volumes/...`
/// is a volume, any other `dbfs:/...` is DBFS, and the rest is local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on this machine.
    Local(PathBuf),
    /// A Unity Catalog volume path, `/Volumes/...` (the Files API).
    Volume(String),
    /// A DBFS path, `/...`.
    Dbfs(String),
}

impl Location {
    /// Read a path the way the official CLI does (a trailing `/` is dropped).
    pub fn parse(raw: &str) -> Location {
        match raw.strip_prefix("dbfs:") {
            Some(rest) if rest.starts_with("/Volumes/") => Location::Volume(rest.trim_end_matches('/').to_string()),
            Some(rest) => {
                let path = rest.trim_end_matches('/');
                Location::Dbfs(if path.is_empty() { "/".to_string() } else { path.to_string() })
            }
            None => Location::Local(PathBuf::from(raw)),
        }
    }

    /// `name` inside this directory.
    pub fn join(&self, name: &str) -> Location {
        let join = |base: &str| if base.ends_with('/') { format!("{base}{name}") } else { format!("{base}/{name}") };
        match self {
            Location::Local(path) => Location::Local(path.join(name)),
            Location::Volume(path) => Location::Volume(join(path)),
            Location::Dbfs(path) => Location::Dbfs(join(path)),
        }
    }

    /// The last component of the path.
    pub fn file_name(&self) -> &str {
        match self {
            Location::Local(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            Location::Volume(path) | Location::Dbfs(path) => path.rsplit('/').next().unwrap_or_default(),
        }
    }

    fn is_local(&self) -> bool {
        matches!(self, Location::Local(_))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::Volume(path) | Location::Dbfs(path) => write!(f, "dbfs:{path}"),
        }
    }
}

/// What a copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Files copied.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

type FileProgressFn = Arc<dyn Fn(&Location, Progress) + Send + Sync>;

impl WorkspaceClient {
    /// Copy `source` to `target`, either of them local, a volume path or a
    /// DBFS path (see [`Location::parse`]); a target that is a directory
    /// receives the file under its own name. A directory is copied only
    /// with [`recursive`](Copy::recursive). Answers what was copied.
    pub fn copy(&self, source: Location, target: Location) -> Copy {
        Copy { w: self.clone(), source, target, recursive: false, overwrite: false, progress: None }
    }
}

/// A copy being set up; it starts when awaited. Files are copied one after
/// another; a failure stops the copy (files already copied stay).
#[must_use = "a copy does nothing until awaited"]
pub struct Copy {
    w: WorkspaceClient,
    source: Location,
    target: Location,
    recursive: bool,
    overwrite: bool,
    progress: Option<FileProgressFn>,
}

impl fmt::Debug for Copy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Copy")
            .field("source", &self.source)
            .field("target", &self.target)
            .field("recursive", &self.recursive)
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

impl Copy {
    /// Copy a directory and everything under it (default: refuse a directory).
    pub fn recursive(mut self, recursive: bool) -> Self {
        self.recursive = recursive;
        self
    }

    /// Replace files that exist at the target (default: fail on them).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Call `callback` with each file's source as its bytes move.
    pub fn on_progress(mut self, callback: impl Fn(&Location, Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<Copied> {
        if self.source.is_local() && self.target.is_local() {
            return Err(Error::config("a copy needs a workspace path on at least one side (dbfs:/...)"));
        }
        let mut copied = Copied::default();
        if self.is_dir(&self.source).await? {
            if !self.recursive {
                return Err(Error::new(
                    ErrorKind::InvalidParameterValue,
                    format!("{} is a directory: copy it recursively", self.source),
                ));
            }
            for (relative, from) in self.files_under(&self.source).await? {
                let to = relative.split('/').fold(self.target.clone(), |at, name| at.join(name));
                if let Location::Local(path) = &to {
                    if let Some(parent) = path.parent() {
                        tokio::fs::create_dir_all(parent).await.map_err(|e| Error::local_io("create", parent, e))?;
                    }
                }
                copied.bytes += self.file(&from, &to).await?;
                copied.files += 1;
            }
        } else {
            let target = match self.is_dir(&self.target).await? {
                true => self.target.join(self.source.file_name()),
                false => self.target.clone(),
            };
            copied.bytes = self.file(&self.source, &target).await?;
            copied.files = 1;
        }
        Ok(copied)
    }

    async fn is_dir(&self, location: &Location) -> Result<bool> {
        Ok(match location {
            Location::Local(path) => tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()),
            Location::Volume(path) => match self.w.files().get_directory_metadata(path.clone()).await {
                Ok(()) => true,
                Err(e) if e.kind().is(ErrorKind::NotFound) => false,
                Err(e) => return Err(e),
            },
            Location::Dbfs(path) => match self.w.dbfs().get_status(path.clone()).await {
                Ok(status) => status.is_dir.unwrap_or(false),
                Err(e) if e.kind().is(ErrorKind::NotFound) => false,
                Err(e) => return Err(e),
            },
        })
    }

    /// The files under a directory: their paths relative to it, and where they are.
    async fn files_under(&self, dir: &Location) -> Result<Vec<(String, Location)>> {
        let mut found = Vec::new();
        let mut pending = vec![(String::new(), dir.clone())];
        while let Some((prefix, at)) = pending.pop() {
            for (name, is_dir) in self.entries(&at).await? {
                let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
                let location = at.join(&name);
                if is_dir {
                    pending.push((relative, location));
                } else {
                    found.push((relative, location));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// The names in a directory, each with whether it is a directory.
    async fn entries(&self, dir: &Location) -> Result<Vec<(String, bool)>> {
        let name_of = |path: &str| path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
        let mut entries = Vec::new();
        match dir {
            Location::Local(path) => {
                let mut listing = tokio::fs::read_dir(path).await.map_err(|e| Error::local_io("list", path, e))?;
                while let Some(entry) = listing.next_entry().await.map_err(|e| Error::local_io("list", path, e))? {
                    let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
                    entries.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
                }
            }
            Location::Volume(path) => {
                let mut pages = self.w.files().list_directory_contents(path.clone());
                while let Some(entry) = pages.try_next().await? {
                    let name = entry.name.or_else(|| entry.path.as_deref().map(name_of)).unwrap_or_default();
                    entries.push((name, entry.is_directory.unwrap_or(false)));
                }
            }
            Location::Dbfs(path) => {
                let mut pages = self.w.dbfs().list(path.clone());
                while let Some(entry) = pages.try_next().await? {
                    entries.push((name_of(entry.path.as_deref().unwrap_or_default()), entry.is_dir.unwrap_or(false)));
                }
            }
        }
        Ok(entries)
    }

    /// One file, any way round; answers its length.
    async fn file(&self, source: &Location, target: &Location) -> Result<u64> {
        let progress: Option<ProgressFn> = self.progress.clone().map(|callback| {
            let source = source.clone();
            Arc::new(move |p: Progress| callback(&source, p)) as ProgressFn
        });
        let (files, dbfs, overwrite) = (self.w.files(), self.w.dbfs(), self.overwrite);
        match (source, target) {
            (Location::Local(local), Location::Volume(path)) => {
                with_progress(files.upload_from(path, local).overwrite(overwrite), progress, |u, f| {
                    u.on_progress(move |p| f(p))
                })
                .await
            }
            (Location::Local(local), Location::Dbfs(path)) => {
                with_progress(dbfs.upload_from(path, local).overwrite(overwrite), progress, |u, f| {
                    u.on_progress(move |p| f(p))
                })
                .await
            }
            (Location::Volume(path), Location::Local(local)) => {
                self.refuse_existing(target).await?;
                with_progress(files.download_to(path, local), progress, |d, f| d.on_progress(move |p| f(p))).await
            }
            (Location::Dbfs(path), Location::Local(local)) => {
                self.refuse_existing(target).await?;
                with_progress(dbfs.download_to(path, local), progress, |d, f| d.on_progress(move |p| f(p))).await
            }
            (_, _) => self.between_remotes(source, target, progress).await,
        }
    }

    /// A local target that exists is replaced only with `overwrite`.
    async fn refuse_existing(&self, target: &Location) -> Result<()> {
        if let Location::Local(path) = target {
            if !self.overwrite && tokio::fs::try_exists(path).await.unwrap_or(false) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{} exists (overwrite replaces it)", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// The download piped into the upload: memory stays at the pipe's
    /// buffer plus the upload's parts. A failed read drops the upload
    /// before it can finish, so no short file is stored.
    async fn between_remotes(&self, source: &Location, target: &Location, progress: Option<ProgressFn>) -> Result<u64> {
        let (mut writer, reader) = tokio::io::duplex(PIPE_BUFFER);
        let read = async {
            let length = self.read_remote(source, &mut writer).await?;
            writer.shutdown().await.map_err(|e| Error::local_io("write", std::path::Path::new("(pipe)"), e))?;
            Ok::<_, Error>(length)
        };
        let overwrite = self.overwrite;
        let write = async {
            match target {
                Location::Volume(path) => {
                    let upload = self.w.files().upload_stream(path, reader).overwrite(overwrite);
                    with_progress(upload, progress, |u, f| u.on_progress(move |p| f(p))).await
                }
                Location::Dbfs(path) => {
                    let upload = self.w.dbfs().write_from(path, reader).overwrite(overwrite);
                    with_progress(upload, progress, |u, f| u.on_progress(move |p| f(p))).await
                }
                Location::Local(_) => Err(Error::config("a local target is not a workspace path")),
            }
        };
        let (read, written) = tokio::try_join!(read, write)?;
        if read != written {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!("copy of {source} to {target}: read {read} bytes, wrote {written}"),
            ));
        }
        Ok(written)
    }

    async fn read_remote(&self, source: &Location, writer: &mut (impl AsyncWrite + Unpin)) -> Result<u64> {
        let pipe = |e| Error::local_io("write", std::path::Path::new("(pipe)"), e);
        match source {
            Location::Volume(path) => {
                let mut response = self.w.files().download_stream(path).await?;
                let mut length = 0u64;
                while let Some(chunk) = response.chunk().await? {
                    writer.write_all(&chunk).await.map_err(pipe)?;
                    length += chunk.len() as u64;
                }
                Ok(length)
            }
            Location::Dbfs(path) => self.w.dbfs().read_into(path, writer).await,
            Location::Local(_) => Err(Error::config("a local source is not a workspace path")),
        }
    }
}

/// `transfer` with the progress callback set, when there is one.
fn with_progress<T>(transfer: T, progress: Option<ProgressFn>, set: impl FnOnce(T, ProgressFn) -> T) -> T {
    match progress {
        Some(callback) => set(transfer, callback),
        None => transfer,
    }
}

run_on_await!(Copy => Copied);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_volumes_dbfs_or_local_as_the_official_cli_reads_them() {
        let parse = Location::parse;
        assert_eq!(parse("dbfs:/Volumes/main/s/v/a.csv"), Location::Volume("/Volumes/main/s/v/a.csv".into()));
        assert_eq!(parse("dbfs:/Volumes/main/s/v/"), Location::Volume("/Volumes/main/s/v".into()));
        assert_eq!(parse("dbfs:/tmp/x"), Location::Dbfs("/tmp/x".into()));
        assert_eq!(parse("dbfs:/"), Location::Dbfs("/".into()));
        assert_eq!(parse("./data/a.csv"), Location::Local(PathBuf::from("./data/a.csv")));
        assert_eq!(Location::Dbfs("/".into()).join("a"), Location::Dbfs("/a".into()));
        assert_eq!(parse("dbfs:/Volumes/m/s/v/a.csv").to_string(), "dbfs:/Volumes/m/s/v/a.csv");
        assert_eq!(parse("dbfs:/Volumes/m/s/v/a.csv").file_name(), "a.csv");
    }
}

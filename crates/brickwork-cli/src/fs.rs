//! `brickwork fs ls|cat|cp|mkdir|rm`, as the official CLI has them: files in
//! Unity Catalog volumes (`dbfs:/Volumes/...`, through the Files API), in
//! DBFS (`dbfs:/...`) and on this machine. Copies stream in bounded memory,
//! with a progress bar on a terminal.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use brickwork::service::files::FilesApi;
use brickwork::WorkspaceClient;
use clap::Subcommand;
use serde_json::json;

use crate::output::{broken_pipe, Printer};
use crate::progress::TransferBar;
use crate::{CliError, Output, Session};

#[derive(Debug, Subcommand)]
pub enum FsCommand {
    /// List a directory (`dbfs:/Volumes/...` or `dbfs:/...`).
    Ls {
        dir: String,
        /// Type, size and modification time too.
        #[arg(short, long)]
        long: bool,
        /// Full paths instead of names.
        #[arg(long)]
        absolute: bool,
    },
    /// Print a file to standard output.
    Cat { file: String },
    /// Copy a file (a directory with -r) between this machine and the workspace.
    Cp {
        source: String,
        target: String,
        /// Copy a directory and everything in it.
        #[arg(short, long)]
        recursive: bool,
        /// Replace files that exist at the target.
        #[arg(long)]
        overwrite: bool,
    },
    /// Make a directory and its parents.
    Mkdir { dir: String },
    /// Remove a file (a directory and everything in it with -r).
    Rm {
        path: String,
        #[arg(short, long)]
        recursive: bool,
    },
}

/// Where a path points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    Local(PathBuf),
    /// A Unity Catalog volume path, `/Volumes/...`.
    Volume(String),
    /// A DBFS path, `/...`.
    Dbfs(String),
}

fn locate(raw: &str) -> Location {
    match raw.strip_prefix("dbfs:") {
        Some(rest) if rest.starts_with("/Volumes/") => Location::Volume(rest.trim_end_matches('/').to_string()),
        Some(rest) => {
            let path = rest.trim_end_matches('/');
            Location::Dbfs(if path.is_empty() { "/".to_string() } else { path.to_string() })
        }
        None => Location::Local(PathBuf::from(raw)),
    }
}

/// One entry of a listing, whichever API it came from.
struct Entry {
    path: String,
    is_dir: bool,
    size: Option<i64>,
    modified: Option<i64>,
}

impl Entry {
    fn name(&self) -> &str {
        self.path.trim_end_matches('/').rsplit('/').next().unwrap_or_default()
    }
}

pub async fn run(session: &Session, command: &FsCommand) -> Result<(), CliError> {
    let w = session.workspace().await?;
    match command {
        FsCommand::Ls { dir, long, absolute } => ls(session, &w, &remote(dir, "ls")?, *long, *absolute).await,
        FsCommand::Cat { file } => cat(&w, &remote(file, "cat")?).await,
        FsCommand::Mkdir { dir } => match remote(dir, "mkdir")? {
            Location::Volume(path) => Ok(w.files().create_directory(path).await?),
            Location::Dbfs(path) => Ok(w.dbfs().mkdirs(path).await?),
            Location::Local(_) => unreachable_local(),
        },
        FsCommand::Rm { path, recursive } => match remote(path, "rm")? {
            Location::Volume(path) => remove_volume_path(&w.files(), &path, *recursive).await,
            Location::Dbfs(path) => Ok(w.dbfs().delete(path).recursive(*recursive).await?),
            Location::Local(_) => unreachable_local(),
        },
        FsCommand::Cp { source, target, recursive, overwrite } => {
            let copy = Copy { w: &w, overwrite: *overwrite, progress: session.show_progress(), files: 0, bytes: 0 };
            copy.run(&locate(source), &locate(target), *recursive, session.printer(), session.output()).await
        }
    }
}

/// A workspace path, or a usage error naming the command.
fn remote(raw: &str, command: &str) -> Result<Location, CliError> {
    match locate(raw) {
        Location::Local(_) => {
            Err(CliError::usage(format!("fs {command} takes a dbfs:/ path (dbfs:/Volumes/... for a volume): {raw}")))
        }
        location => Ok(location),
    }
}

fn unreachable_local() -> Result<(), CliError> {
    Err(CliError::usage("a local path is not a workspace path"))
}

async fn list(w: &WorkspaceClient, dir: &Location) -> Result<Vec<Entry>, CliError> {
    let mut entries = Vec::new();
    match dir {
        Location::Volume(path) => {
            let mut pages = w.files().list_directory_contents(path.clone());
            while let Some(e) = pages.try_next().await? {
                let path = e.path.unwrap_or_default();
                let is_dir = e.is_directory.unwrap_or(false);
                entries.push(Entry { path, is_dir, size: e.file_size, modified: e.last_modified });
            }
        }
        Location::Dbfs(path) => {
            let mut pages = w.dbfs().list(path.clone());
            while let Some(e) = pages.try_next().await? {
                let path = e.path.unwrap_or_default();
                let is_dir = e.is_dir.unwrap_or(false);
                entries.push(Entry { path, is_dir, size: e.file_size, modified: e.modification_time });
            }
        }
        Location::Local(_) => return Err(CliError::usage("a local path is not a workspace path")),
    }
    Ok(entries)
}

async fn ls(
    session: &Session,
    w: &WorkspaceClient,
    dir: &Location,
    long: bool,
    absolute: bool,
) -> Result<(), CliError> {
    let entries = list(w, dir).await?;
    let shown = |e: &Entry| if absolute { e.path.clone() } else { e.name().to_string() };
    if session.output() == Output::Text && !long {
        return crate::output::lines(&entries.iter().map(shown).collect::<Vec<_>>());
    }
    let columns: &'static [&'static str] = &["type", "size", "modified", "name"];
    let mut listing = session.printer().listing(columns);
    for e in &entries {
        let kind = if e.is_dir { "DIRECTORY" } else { "FILE" };
        listing.push(json!({"name": shown(e), "type": kind, "size": e.size, "modified": e.modified}))?;
    }
    listing.finish()
}

async fn cat(w: &WorkspaceClient, file: &Location) -> Result<(), CliError> {
    match file {
        Location::Volume(path) => {
            let mut response = w.files().download_stream(path).await?;
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = response.chunk().await? {
                out.write_all(&chunk).map_err(broken_pipe)?;
            }
            out.flush().map_err(broken_pipe)
        }
        Location::Dbfs(path) => {
            let mut out = tokio::io::stdout();
            w.dbfs().read_into(path, &mut out).await.map_err(|e| match e.kind() {
                brickwork::ErrorKind::LocalIo => CliError::reader_gone(),
                _ => CliError::from(e),
            })?;
            Ok(())
        }
        Location::Local(_) => unreachable_local(),
    }
}

/// A volume path removed: a file, an empty directory, or (recursive) a
/// directory after everything in it, deepest first.
fn remove_volume_path<'a>(
    files: &'a FilesApi,
    path: &'a str,
    recursive: bool,
) -> Pin<Box<dyn Future<Output = Result<(), CliError>> + 'a>> {
    Box::pin(async move {
        if files.get_directory_metadata(path.to_string()).await.is_err() {
            return Ok(files.delete(path.to_string()).await?);
        }
        if recursive {
            let mut pages = files.list_directory_contents(path.to_string());
            let mut children = Vec::new();
            while let Some(entry) = pages.try_next().await? {
                children.extend(entry.path);
            }
            for child in children {
                remove_volume_path(files, &child, true).await?;
            }
        }
        Ok(files.delete_directory(path.to_string()).await?)
    })
}

/// A copy in progress: what it may replace, and what it has done.
struct Copy<'a> {
    w: &'a WorkspaceClient,
    overwrite: bool,
    progress: bool,
    files: u64,
    bytes: u64,
}

impl Copy<'_> {
    async fn run(
        mut self,
        source: &Location,
        target: &Location,
        recursive: bool,
        printer: Printer,
        output: Output,
    ) -> Result<(), CliError> {
        match (source, target) {
            (Location::Local(_), Location::Local(_)) => {
                return Err(CliError::usage(
                    "fs cp copies between this machine and the workspace: one side must be dbfs:/",
                ))
            }
            (Location::Local(_), _) | (_, Location::Local(_)) => {}
            _ => return Err(CliError::usage("fs cp between two workspace paths is not supported yet")),
        }
        if self.is_dir(source).await? {
            if !recursive {
                return Err(CliError::usage(format!("{} is a directory: use -r", show(source))));
            }
            self.tree(source, target).await?;
        } else {
            let target = if self.is_dir(target).await? { child(target, file_name(source)) } else { target.clone() };
            self.file(source, &target).await?;
        }
        if output == Output::Json {
            printer.json(&json!({"files": self.files, "bytes": self.bytes}))?;
        }
        Ok(())
    }

    async fn is_dir(&self, location: &Location) -> Result<bool, CliError> {
        Ok(match location {
            Location::Local(path) => path.is_dir(),
            Location::Volume(path) => self.w.files().get_directory_metadata(path.clone()).await.is_ok(),
            Location::Dbfs(path) => match self.w.dbfs().get_status(path.clone()).await {
                Ok(status) => status.is_dir.unwrap_or(false),
                Err(e) if e.kind().is(brickwork::ErrorKind::NotFound) => false,
                Err(e) => return Err(e.into()),
            },
        })
    }

    /// Every file under `source` to the same place under `target`.
    async fn tree(&mut self, source: &Location, target: &Location) -> Result<(), CliError> {
        for (relative, from) in self.files_under(source).await? {
            let to = relative.split('/').fold(target.clone(), |at, name| child(&at, name));
            if let Location::Local(path) = &to {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| CliError::other(format!("cannot create {}: {e}", parent.display())))?;
                }
            }
            self.file(&from, &to).await?;
        }
        Ok(())
    }

    /// The files under a directory: their paths relative to it, and where they are.
    async fn files_under(&self, dir: &Location) -> Result<Vec<(String, Location)>, CliError> {
        let mut found = Vec::new();
        let mut pending = vec![(String::new(), dir.clone())];
        while let Some((prefix, at)) = pending.pop() {
            let entries: Vec<(String, bool, Location)> = match &at {
                Location::Local(path) => std::fs::read_dir(path)
                    .map_err(|e| CliError::other(format!("cannot list {}: {e}", path.display())))?
                    .filter_map(|e| e.ok())
                    .map(|e| {
                        (e.file_name().to_string_lossy().into_owned(), e.path().is_dir(), Location::Local(e.path()))
                    })
                    .collect(),
                remote => list(self.w, remote)
                    .await?
                    .into_iter()
                    .map(|e| (e.name().to_string(), e.is_dir, remote.clone().with_path(&e.path)))
                    .collect(),
            };
            for (name, is_dir, location) in entries {
                let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
                if is_dir {
                    pending.push((relative, location));
                } else {
                    found.push((relative, location));
                }
            }
        }
        Ok(found)
    }

    /// One file, either way.
    async fn file(&mut self, source: &Location, target: &Location) -> Result<(), CliError> {
        let bar = TransferBar::start(self.progress, &show(source));
        let bytes = match (source, target) {
            (Location::Local(local), Location::Volume(path)) => {
                let upload = self.w.files().upload_from(path.clone(), local).overwrite(self.overwrite);
                upload.on_progress(bar.callback()).await?
            }
            (Location::Local(local), Location::Dbfs(path)) => {
                let file = tokio::fs::File::open(local)
                    .await
                    .map_err(|e| CliError::other(format!("cannot open {}: {e}", local.display())))?;
                self.w.dbfs().write_from(path, file, self.overwrite).await?
            }
            (Location::Volume(path), Location::Local(local)) => {
                self.refuse_existing(local)?;
                self.w.files().download_to(path.clone(), local).on_progress(bar.callback()).await?
            }
            (Location::Dbfs(path), Location::Local(local)) => {
                self.refuse_existing(local)?;
                self.w.dbfs().download_to(path, local).await?
            }
            _ => return Err(CliError::usage("fs cp copies between this machine and the workspace")),
        };
        bar.finish();
        self.files += 1;
        self.bytes += bytes;
        Ok(())
    }

    fn refuse_existing(&self, local: &Path) -> Result<(), CliError> {
        if local.exists() && !self.overwrite {
            return Err(CliError::other(format!("{} exists: use --overwrite to replace it", local.display())));
        }
        Ok(())
    }
}

impl Location {
    /// The same kind of location at another path (a remote listing's entries).
    fn with_path(self, path: &str) -> Location {
        match self {
            Location::Local(_) => Location::Local(PathBuf::from(path)),
            Location::Volume(_) => Location::Volume(path.trim_end_matches('/').to_string()),
            Location::Dbfs(_) => Location::Dbfs(path.trim_end_matches('/').to_string()),
        }
    }
}

/// `name` inside the directory `dir`.
fn child(dir: &Location, name: &str) -> Location {
    let join = |base: &str| if base.ends_with('/') { format!("{base}{name}") } else { format!("{base}/{name}") };
    match dir {
        Location::Local(path) => Location::Local(path.join(name)),
        Location::Volume(path) => Location::Volume(join(path)),
        Location::Dbfs(path) => Location::Dbfs(join(path)),
    }
}

fn file_name(location: &Location) -> &str {
    match location {
        Location::Local(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        Location::Volume(path) | Location::Dbfs(path) => path.rsplit('/').next().unwrap_or_default(),
    }
}

fn show(location: &Location) -> String {
    match location {
        Location::Local(path) => path.display().to_string(),
        Location::Volume(path) | Location::Dbfs(path) => format!("dbfs:{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_volumes_dbfs_or_local_as_the_official_cli_reads_them() {
        assert_eq!(locate("dbfs:/Volumes/main/s/v/a.csv"), Location::Volume("/Volumes/main/s/v/a.csv".into()));
        assert_eq!(locate("dbfs:/Volumes/main/s/v/"), Location::Volume("/Volumes/main/s/v".into()));
        assert_eq!(locate("dbfs:/tmp/x"), Location::Dbfs("/tmp/x".into()));
        assert_eq!(locate("dbfs:/"), Location::Dbfs("/".into()));
        assert_eq!(locate("./data/a.csv"), Location::Local(PathBuf::from("./data/a.csv")));
        assert_eq!(child(&Location::Dbfs("/".into()), "a"), Location::Dbfs("/a".into()));
    }
}

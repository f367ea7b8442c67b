//! `brickwork fs ls|cat|cp|mkdir|rm`, as the official CLI has them: files in
//! Unity Catalog volumes (`dbfs:/Volumes/...`, through the Files API), in
//! DBFS (`dbfs:/...`) and on this machine. Copies stream in bounded memory,
//! with a progress bar on a terminal.

use std::future::{Future, IntoFuture};
use std::io::Write;
use std::pin::Pin;

use brickwork::service::files::FilesApi;
use brickwork::service::helpers::Location;
use brickwork::WorkspaceClient;
use clap::Subcommand;
use serde_json::json;

use crate::output::broken_pipe;
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
            copy(session, &w, source, target, *recursive, *overwrite).await
        }
    }
}

/// A workspace path, or a usage error naming the command.
fn remote(raw: &str, command: &str) -> Result<Location, CliError> {
    match Location::parse(raw) {
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

/// `fs cp`: the library's copy, with a bar on a terminal and, in JSON
/// mode, what it moved.
async fn copy(
    session: &Session,
    w: &WorkspaceClient,
    source: &str,
    target: &str,
    recursive: bool,
    overwrite: bool,
) -> Result<(), CliError> {
    let (source, target) = (Location::parse(source), Location::parse(target));
    if matches!((&source, &target), (Location::Local(_), Location::Local(_))) {
        return Err(CliError::usage("fs cp copies to or from the workspace: one side must be dbfs:/"));
    }
    let bar = TransferBar::start(session.show_progress());
    let copy = w.copy(source, target).recursive(recursive).overwrite(overwrite).on_progress(bar.callback());
    // Ctrl-C drops the copy: its upload aborts or torn file removal runs in
    // the background, and is awaited before the runtime (and they) end.
    let copied = tokio::select! {
        copied = copy.into_future() => Some(copied),
        _ = tokio::signal::ctrl_c() => None,
    };
    bar.finish();
    let Some(copied) = copied else {
        // A second Ctrl-C stops waiting for a clean-up that hangs.
        tokio::select! {
            () = brickwork::cleanup::wait_for_background_cleanups() => {}
            _ = tokio::signal::ctrl_c() => crate::output::warn("interrupted again: clean-up left unfinished"),
        }
        return Err(CliError::interrupted());
    };
    let copied = copied.map_err(|e| match e.kind() {
        // Refused before any request: a directory without -r.
        brickwork::ErrorKind::InvalidParameterValue if e.status().is_none() => {
            CliError::usage(format!("{}: use -r", e.message()))
        }
        brickwork::ErrorKind::AlreadyExists | brickwork::ErrorKind::ResourceAlreadyExists => {
            CliError::from(e).with_hint("use --overwrite to replace it")
        }
        _ => CliError::from(e),
    })?;
    if session.output() == Output::Json {
        session.printer().json(&json!({"files": copied.files, "bytes": copied.bytes}))?;
    }
    Ok(())
}

//! Workspace: upload files and notebooks, list a folder, download, delete.
//!
//! `cargo run -p brickwork --example workspace`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::helpers::UploadOptions;
use brickwork::service::workspace::{
    ExportFormat, WorkspaceDeleteRequest, WorkspaceListRequest, WorkspaceMkdirsRequest,
};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let dir = "/Shared/brickwork-example";
    w.workspace().mkdirs(&WorkspaceMkdirsRequest { path: Some(dir.into()) }).await?;
    let overwrite = UploadOptions { overwrite: true, ..Default::default() };
    w.workspace().upload(&format!("{dir}/notes.txt"), "plain file", overwrite.clone()).await?;
    w.workspace().upload(&format!("{dir}/etl.py"), "# Databricks notebook source\nprint(1)\n", overwrite).await?;
    let objects: Vec<_> =
        w.workspace().list(WorkspaceListRequest { path: Some(dir.into()), ..Default::default() }).try_collect().await?;
    for o in &objects {
        println!("{:?} {}", o.object_type, o.path.clone().unwrap_or_default());
    }
    let source = w.workspace().download(&format!("{dir}/etl"), ExportFormat::Source).await?;
    println!("notebook source: {:?}", String::from_utf8_lossy(&source));
    w.workspace().delete(&WorkspaceDeleteRequest { path: Some(dir.into()), recursive: Some(true) }).await?;
    Ok(())
}

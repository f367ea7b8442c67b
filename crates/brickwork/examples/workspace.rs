//! Workspace: upload files and notebooks, list a folder, download, delete.
//!
//! `cargo run -p brickwork --example workspace`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::helpers::UploadOptions;
use brickwork::service::workspace::ExportFormat;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let dir = "/Shared/brickwork-example";
    w.workspace().mkdirs(dir).await?;
    let overwrite = UploadOptions::default().overwrite(true);
    w.workspace().upload(&format!("{dir}/notes.txt"), "plain file", overwrite.clone()).await?;
    w.workspace().upload(&format!("{dir}/etl.py"), "# Databricks notebook source\nprint(1)\n", overwrite).await?;
    let mut objects = w.workspace().list(dir);
    while let Some(o) = objects.try_next().await? {
        println!("{:?} {}", o.object_type, o.path.unwrap_or_default());
    }
    let source = w.workspace().download(&format!("{dir}/etl"), ExportFormat::Source).await?;
    println!("notebook source: {:?}", String::from_utf8_lossy(&source));
    w.workspace().delete(dir).recursive(true).await?;
    Ok(())
}

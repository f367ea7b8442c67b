//! Files: DBFS streaming write/read and listing, and the Files API for volumes.
//!
//! `cargo run -p brickwork --example files`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::files::{FilesDownloadRequest, FilesUploadRequest};

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 256) as u8).collect();
    w.dbfs().write_file("/tmp/brickwork-example/data.bin", data.clone(), true).await?;
    let back = w.dbfs().read_file("/tmp/brickwork-example/data.bin").await?;
    println!("DBFS round trip of {} bytes: {}", data.len(), back.as_ref() == data.as_slice());
    for f in w.dbfs().list_recursive("/tmp/brickwork-example").await? {
        println!("  {} ({} bytes)", f.path.unwrap_or_default(), f.file_size.unwrap_or_default());
    }
    let path = "/Volumes/main/default/landing/example.csv";
    let upload = FilesUploadRequest {
        file_path: Some(path.into()),
        contents: Some("id,name\n1,a\n".into()),
        overwrite: Some(true),
    };
    w.files().upload(&upload).await?;
    let csv = w.files().download(&FilesDownloadRequest { file_path: Some(path.into()) }).await?;
    println!("volume file: {:?}", String::from_utf8_lossy(csv.bytes()));
    Ok(())
}

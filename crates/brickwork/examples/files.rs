//! Files: DBFS streaming write/read and listing, and the Files API for volumes.
//!
//! `cargo run -p brickwork --example files`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::catalog::VolumeType;

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
    // A volume for the file (already there is fine).
    match w.volumes().create("main", "default", "landing", VolumeType::Managed).await {
        Err(e) if !e.is(brickwork::ErrorKind::AlreadyExists) && !e.is(brickwork::ErrorKind::ResourceAlreadyExists) => {
            return Err(e)
        }
        _ => {}
    }
    let path = "/Volumes/main/default/landing/example.csv";
    w.files().upload(path, "id,name\n1,a\n").overwrite(true).await?;
    let meta = w.files().get_metadata(path).await?;
    println!("volume file of {:?} bytes, {:?}", meta.content_length, meta.content_type);
    let csv = w.files().download(path).await?;
    println!("volume file: {:?}", String::from_utf8_lossy(csv.bytes()));
    Ok(())
}

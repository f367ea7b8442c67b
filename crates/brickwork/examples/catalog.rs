//! Unity Catalog: create a catalog and a schema, list them, clean up.
//!
//! `cargo run -p brickwork --example catalog`

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let catalog = "brickwork_example";
    w.catalogs().create(catalog).comment("example").await?;
    for schema in ["bronze", "silver"] {
        w.schemas().create(schema, catalog).await?;
    }
    let mut schemas = w.schemas().list(catalog);
    while let Some(s) = schemas.try_next().await? {
        println!("schema {}", s.full_name.unwrap_or_default());
    }
    w.catalogs().delete(catalog).force(true).await?;
    Ok(())
}

//! Unity Catalog: create a catalog and a schema, list them, clean up.
//!
//! `cargo run -p brickwork --example catalog`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::catalog::{
    CatalogsCreateRequest, CatalogsDeleteRequest, SchemasCreateRequest, SchemasListRequest,
};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let catalog = "brickwork_example";
    w.catalogs()
        .create(&CatalogsCreateRequest {
            name: Some(catalog.into()),
            comment: Some("example".into()),
            ..Default::default()
        })
        .await?;
    for schema in ["bronze", "silver"] {
        w.schemas()
            .create(&SchemasCreateRequest {
                name: Some(schema.into()),
                catalog_name: Some(catalog.into()),
                ..Default::default()
            })
            .await?;
    }
    let schemas: Vec<_> = w
        .schemas()
        .list(SchemasListRequest { catalog_name: Some(catalog.into()), ..Default::default() })
        .try_collect()
        .await?;
    for s in &schemas {
        println!("schema {}", s.full_name.clone().unwrap_or_default());
    }
    w.catalogs().delete(&CatalogsDeleteRequest { name: Some(catalog.into()), force: Some(true) }).await?;
    Ok(())
}

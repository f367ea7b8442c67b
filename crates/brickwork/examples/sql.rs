//! SQL: create a warehouse and wait for it, run a statement, clean up.
//!
//! `cargo run -p brickwork --example sql`

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let pending = w
        .warehouses()
        .create()
        .name("brickwork-example")
        .cluster_size("2X-Small")
        .max_num_clusters(1)
        .auto_stop_mins(10)
        .await?;
    let warehouse = pending.wait_with(common::waiting()).await?;
    let id = pending.id();
    println!("warehouse {id} is {:?}", warehouse.state);
    let result = w
        .statement_execution()
        .execute_statement("SELECT 1 AS one, 'two' AS two, NULL AS three", id)
        .wait_timeout("30s")
        .await?;
    println!("rows: {:?}", result.result.map(|r| r.data_array).unwrap_or_default());
    w.warehouses().delete(id).await?;
    Ok(())
}

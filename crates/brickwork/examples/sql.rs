//! SQL: create a warehouse and wait for it, run a statement, clean up.
//!
//! `cargo run -p brickwork --example sql`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::sql::{
    StatementExecutionExecuteStatementRequest, WarehousesCreateRequest, WarehousesDeleteRequest,
};

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let create = WarehousesCreateRequest {
        name: Some("brickwork-example".into()),
        cluster_size: Some("2X-Small".into()),
        max_num_clusters: Some(1),
        auto_stop_mins: Some(10),
        ..Default::default()
    };
    let warehouse = w.warehouses().create_and_wait(&create, common::waiting()).await?;
    let id = warehouse.id.clone().unwrap_or_default();
    println!("warehouse {id} is {:?}", warehouse.state);
    let statement = StatementExecutionExecuteStatementRequest {
        statement: Some("SELECT 1 AS one, 'two' AS two".into()),
        warehouse_id: Some(id.clone()),
        ..Default::default()
    };
    let result = w.statement_execution().execute_and_wait(&statement, common::waiting()).await?;
    println!("rows: {:?}", result.result.map(|r| r.data_array).unwrap_or_default());
    w.warehouses().delete(&WarehousesDeleteRequest { id: Some(id) }).await?;
    Ok(())
}

//! Compute: pick a runtime and node type, create a cluster and wait for it,
//! list clusters, clean up.
//!
//! `cargo run -p brickwork --example compute`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::compute::ClusterDetails;
use brickwork::service::helpers::{NodeTypeFilter, SparkVersionFilter};

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let clusters = w.clusters();
    let spark_version = clusters.select_spark_version(&SparkVersionFilter::default().long_term_support(true)).await?;
    let node_type_id = clusters.select_node_type(&NodeTypeFilter::default().local_disk(true)).await?;
    println!("runtime {spark_version} on {node_type_id}");
    let pending = clusters
        .create(spark_version)
        .cluster_name("brickwork-example")
        .node_type_id(node_type_id)
        .num_workers(1)
        .autotermination_minutes(10)
        .await?;
    println!("creating cluster {}", pending.id());
    let progress = common::waiting().on_progress(|c: &ClusterDetails| println!("  state {:?}", c.state));
    let cluster = pending.wait_with(progress).await?;
    println!("cluster {} is {:?}", pending.id(), cluster.state);
    let mut all = clusters.list().page_size(50);
    let mut count = 0;
    while let Some(c) = all.try_next().await? {
        println!("  {} {:?}", c.cluster_name.unwrap_or_default(), c.state);
        count += 1;
    }
    println!("{count} cluster(s) in the workspace");
    clusters.permanent_delete(pending.id()).await?;
    Ok(())
}

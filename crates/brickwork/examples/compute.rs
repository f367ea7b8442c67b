//! Compute: pick a runtime and node type, create a cluster and wait for it,
//! list clusters, clean up.
//!
//! `cargo run -p brickwork --example compute`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::compute::{ClustersCreateRequest, ClustersListRequest, ClustersPermanentDeleteRequest};
use brickwork::service::helpers::{NodeTypeFilter, SparkVersionFilter};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let clusters = w.clusters();
    let spark_version =
        clusters.select_spark_version(&SparkVersionFilter { long_term_support: true, ..Default::default() }).await?;
    let node_type_id = clusters.select_node_type(&NodeTypeFilter { local_disk: true, ..Default::default() }).await?;
    println!("runtime {spark_version} on {node_type_id}");
    let request = ClustersCreateRequest {
        cluster_name: Some("brickwork-example".into()),
        spark_version: Some(spark_version),
        node_type_id: Some(node_type_id),
        num_workers: Some(1),
        autotermination_minutes: Some(10),
        ..Default::default()
    };
    let cluster = clusters
        .create_and_wait(
            &request,
            common::waiting()
                .on_progress(|c: &brickwork::service::compute::ClusterDetails| println!("  state {:?}", c.state)),
        )
        .await?;
    let cluster_id = cluster.cluster_id.clone().unwrap_or_default();
    println!("cluster {cluster_id} is {:?}", cluster.state);
    let all: Vec<_> =
        clusters.list(ClustersListRequest { page_size: Some(50), ..Default::default() }).try_collect().await?;
    println!("{} cluster(s) in the workspace", all.len());
    clusters.permanent_delete(&ClustersPermanentDeleteRequest { cluster_id: Some(cluster_id) }).await?;
    Ok(())
}

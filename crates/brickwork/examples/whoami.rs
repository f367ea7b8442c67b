//! Who am I? Resolves config and credentials like the official SDKs, then
//! creates a cluster, waits for it, lists clusters and cleans up, through the
//! raw API.
//!
//! With `DATABRICKS_HOST` (or a profile) configured it talks to that
//! workspace; with nothing configured it starts the embedded emulator.
//!
//! ```sh
//! cargo run -p brickwork --example whoami
//! ```

use std::time::Duration;

use brickwork::{Client, Config, Result};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();
    let configured = Config::from_env()?;
    // Keep the emulator alive for the whole run when we use it.
    let (client, _emulator) = if configured.host().is_some() {
        (Client::new(configured).await?, None)
    } else {
        let emulator = brickwork_emulator::Emulator::start()
            .await
            .map_err(|e| brickwork::Error::config(format!("cannot start the emulator: {e}")))?;
        println!("no workspace configured: using the embedded emulator at {}", emulator.url());
        let cfg = Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build()?;
        (Client::new(cfg).await?, Some(emulator))
    };
    let me: Value = client.api().get("/api/2.0/preview/scim/v2/Me", &()).await?;
    println!("authenticated as {} (auth type {})", me["userName"], client.auth_type());

    let versions: Value = client.api().get("/api/2.1/clusters/spark-versions", &()).await?;
    let spark_version = versions["versions"][0]["key"].as_str().unwrap_or("15.4.x-scala2.12").to_string();
    let spec = json!({"cluster_name": "brickwork-whoami", "spark_version": spark_version,
                      "node_type_id": "i3.xlarge", "num_workers": 0, "autotermination_minutes": 10,
                      "spark_conf": {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*]"},
                      "custom_tags": {"ResourceClass": "SingleNode"}});
    let created: Value = client.api().post("/api/2.1/clusters/create", &spec).await?;
    let cluster_id = created["cluster_id"].as_str().unwrap_or_default().to_string();
    println!("created cluster {cluster_id}, waiting for RUNNING");
    for _ in 0..600 {
        let cluster: Value = client.api().get("/api/2.1/clusters/get", &json!({"cluster_id": cluster_id})).await?;
        if cluster["state"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let clusters: Value = client.api().get("/api/2.1/clusters/list", &json!({"page_size": 10})).await?;
    println!("{} cluster(s) visible", clusters["clusters"].as_array().map_or(0, Vec::len));
    let _: Value = client.api().post("/api/2.1/clusters/permanent-delete", &json!({"cluster_id": cluster_id})).await?;
    println!("cluster {cluster_id} permanently deleted");
    Ok(())
}

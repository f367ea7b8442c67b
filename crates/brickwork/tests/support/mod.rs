//! Shared by the integration tests that drive the emulator.
#![allow(dead_code)]

use std::time::Duration;

use brickwork::service::compute::{ClusterDetails, ClustersCreateRequest, CreateClusterResponse};
use brickwork::service::{Wait, WaitOptions, WorkspaceClient};
use brickwork::transport::RetryPolicy;
use brickwork::{Client, Config};
use brickwork_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};

/// An emulator whose transitions and tasks take 40 ms.
pub fn fast() -> EmulatorBuilder {
    Emulator::builder()
        .transition_delay(Duration::from_millis(40))
        .task_duration(Duration::from_millis(40))
        // The volume the Files API tests write to.
        .volume("main.default.v")
}

/// Start `builder` and connect a client with millisecond retry backoff.
pub async fn workspace(builder: EmulatorBuilder) -> (EmulatorHandle, WorkspaceClient) {
    let emulator = builder.start().await.expect("emulator");
    let w = client_for(&emulator).await;
    (emulator, w)
}

/// A client of `emulator`'s admin user, with millisecond retry backoff.
pub async fn client_for(emulator: &EmulatorHandle) -> WorkspaceClient {
    let cfg =
        Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build().expect("cfg");
    let fast_retry = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        throttle_jitter: Duration::from_millis(5),
    };
    WorkspaceClient::from_client(Client::builder().config(cfg).retry_policy(fast_retry).build().await.expect("client"))
}

/// Polling suited to the fast emulator.
pub fn quick<T>() -> WaitOptions<T> {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(20), Duration::from_millis(50))
        .timeout(Duration::from_secs(30))
}

/// Create a one-worker cluster the emulator accepts; the handle waits for RUNNING.
pub async fn cluster_request(
    w: &WorkspaceClient,
    name: &str,
) -> brickwork::Result<Wait<CreateClusterResponse, ClusterDetails>> {
    w.clusters().create("15.4.x-scala2.12").cluster_name(name).node_type_id("i3.xlarge").num_workers(1).await
}

/// The request [`cluster_request`] sends.
pub fn cluster_call_request(name: &str) -> ClustersCreateRequest {
    ClustersCreateRequest {
        cluster_name: Some(name.into()),
        node_type_id: Some("i3.xlarge".into()),
        num_workers: Some(1),
        ..ClustersCreateRequest::new("15.4.x-scala2.12")
    }
}

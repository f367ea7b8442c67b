//! The blocking facade from plain synchronous code.
#![cfg(feature = "blocking")]

use std::time::Duration;

use brickwork::blocking::WorkspaceClient;
use brickwork::service::compute::{ClustersCreateRequest, ClustersListRequest, State};
use brickwork::service::WaitOptions;
use brickwork::{Config, ErrorKind};

/// An emulator on its own thread and runtime; returns (url, token).
fn emulator() -> (String, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let emulator = brickwork_emulator::Emulator::builder()
                .transition_delay(Duration::from_millis(40))
                .start()
                .await
                .expect("emulator");
            tx.send((emulator.url().to_string(), emulator.token().to_string())).expect("send");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("emulator address")
}

#[test]
fn blocking_calls_iterators_and_waiters() {
    let (url, token) = emulator();
    let w = WorkspaceClient::new(Config::builder().host(url).token(token).without_environment().build().expect("cfg"))
        .expect("client");
    let me = w.current_user().me(&Default::default()).expect("me");
    assert_eq!(me.user_name.as_deref(), Some("admin@example.com"));
    let request = ClustersCreateRequest {
        spark_version: Some("15.4.x-scala2.12".into()),
        node_type_id: Some("i3.xlarge".into()),
        num_workers: Some(0),
        ..Default::default()
    };
    let options = WaitOptions::default().poll_interval(Duration::from_millis(20), Duration::from_millis(50));
    for _ in 0..3 {
        let cluster = w.clusters().create_and_wait(&request, options.clone()).expect("running");
        assert_eq!(cluster.state, Some(State::Running));
    }
    let listed: Vec<_> = w
        .clusters()
        .list(ClustersListRequest { page_size: Some(1), ..Default::default() })
        .collect::<Result<_, _>>()
        .expect("pages");
    assert_eq!(listed.len(), 3, "three pages of one, as an iterator");
    let err = w.jobs().get(&Default::default()).expect_err("no job id");
    assert!(err.is(ErrorKind::BadRequest), "{err:?}");
    // Async helpers run on the same runtime.
    let version = w
        .block_on(
            w.async_client()
                .clusters()
                .select_spark_version(&brickwork::service::helpers::SparkVersionFilter::default()),
        )
        .expect("helper");
    assert!(version.ends_with("-scala2.12"));
}

//! The blocking facade from plain synchronous code.
#![cfg(feature = "blocking")]

use std::time::Duration;

use brickwork::blocking::WorkspaceClient;
use brickwork::service::compute::State;
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
    let me = w.current_user().me().send_blocking().expect("me");
    assert_eq!(me.user_name.as_deref(), Some("admin@example.com"));
    let options = WaitOptions::default().poll_interval(Duration::from_millis(20), Duration::from_millis(50));
    for _ in 0..3 {
        let pending = w
            .clusters()
            .create("15.4.x-scala2.12")
            .node_type_id("i3.xlarge")
            .num_workers(0)
            .send_blocking()
            .expect("create");
        let cluster = w.block_on(pending.wait_with(options.clone())).expect("runtime").expect("running");
        assert_eq!(cluster.state, Some(State::Running));
        assert_eq!(pending.wait_blocking().expect("still running").state, Some(State::Running));
    }
    let listed: Vec<_> = w.clusters().list().page_size(1).blocking_iter().collect::<Result<_, _>>().expect("pages");
    assert_eq!(listed.len(), 3, "three pages of one, as an iterator");
    let err = w.jobs().get(0).send_blocking().expect_err("no such job");
    assert!(err.is(ErrorKind::BadRequest) || err.is(ErrorKind::NotFound), "{err:?}");
    // Async helpers run on the same runtime.
    let version = w
        .block_on(w.clusters().select_spark_version(&brickwork::service::helpers::SparkVersionFilter::default()))
        .expect("runtime")
        .expect("helper");
    assert!(version.ends_with("-scala2.12"));
}

#[tokio::test]
async fn a_blocking_call_inside_a_runtime_is_an_error_not_a_panic() {
    let (url, token) = emulator();
    let cfg = Config::builder().host(url).token(token).without_environment().build().expect("cfg");
    let w = brickwork::WorkspaceClient::new(cfg).await.expect("client");
    let err = w.current_user().me().send_blocking().expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Config);
}

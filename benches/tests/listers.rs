//! The harness's children, run as the built binary against an emulator:
//! both listers page through every job, the transfer child's download is
//! its upload, and a bad command line is refused with the usage.

use std::process::Command;

use brickwork_emulator::Emulator;
use serde_json::{json, Value};

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_brickwork-bench")).args(args).output().expect("brickwork-bench runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listers_page_through_every_job_of_a_seeded_workspace() {
    let emulator = Emulator::start().await.expect("emulator");
    let seeded = reqwest::Client::new()
        .post(format!("{}/__admin/seed", emulator.url()))
        .bearer_auth(emulator.admin_token())
        .json(&json!({"jobs": 250, "name_prefix": "listed-"}))
        .send()
        .await
        .expect("seed");
    assert!(seeded.status().is_success(), "{}", seeded.status());
    for lister in ["brickwork", "raw"] {
        let out = tokio::task::block_in_place(|| bench(&["list-jobs", lister, emulator.url(), emulator.token()]));
        assert!(out.status.success(), "{lister}: {}", String::from_utf8_lossy(&out.stderr));
        let answer: Value = serde_json::from_slice(&out.stdout).expect("a JSON line");
        assert_eq!(answer["jobs"], 250, "{lister} listed every page: {answer}");
        assert!(answer["seconds"].as_f64().is_some_and(|s| s > 0.0), "{answer}");
    }
}

#[test]
fn a_bad_command_line_is_refused_with_the_usage() {
    let out = bench(&["run", "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--emulator and --cli are required"));
    let out = bench(&["list-jobs", "nobody", "http://127.0.0.1:9", "t"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown lister nobody"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transfer_child_uploads_in_parts_and_downloads_the_same_bytes() {
    let emulator = Emulator::builder().volume("main.default.bench").start().await.expect("emulator");
    let dir = std::env::temp_dir().join(format!("brickwork-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // 20 MiB and a bit: three parts of the default 8 MiB.
    let data: Vec<u8> = (0..20 * 1024 * 1024 + 5).map(|i: usize| (i.wrapping_mul(131) >> 3) as u8).collect();
    let (source, out) = (dir.join("source.bin"), dir.join("out.bin"));
    std::fs::write(&source, &data).expect("source");
    let args = ["transfer", emulator.url(), emulator.token()];
    let paths = [source.to_str().expect("utf-8"), "/Volumes/main/default/bench/t.bin", out.to_str().expect("utf-8")];
    let run = tokio::task::block_in_place(|| bench(&[&args[..], &paths[..]].concat()));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let answer: Value = serde_json::from_slice(&run.stdout).expect("a JSON line");
    assert!(answer["upload_seconds"].as_f64().is_some_and(|s| s > 0.0), "{answer}");
    let same = std::fs::read(&out).expect("downloaded") == data;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(same, "the downloaded file is the uploaded one");
}

//! The production patterns against the emulator.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brickwork::patterns::{
    delete_jobs_where, ephemeral_cluster, managed_cluster, wait_for_background_cleanups, ClientRegistry,
    EphemeralOptions, JobBuilder, JobSpec, ManagedOptions, TaskProgress, TaskSpec, Upserted, EPHEMERAL_TAG,
};
use brickwork::service::compute::{ClusterSpec, ClustersCreateRequest, State};
use brickwork::service::helpers::UploadOptions;
use brickwork::service::workspace::{ImportFormat, Language};
use brickwork::{Config, Error, ErrorKind, WorkspaceClient};
use brickwork_emulator::{EmulatorHandle, Fault, FaultRule, FaultSettings, Phase};

mod support;
use support::{cluster_call_request, cluster_request, fast, quick, workspace};

fn spec() -> ClustersCreateRequest {
    cluster_call_request("guarded")
}

fn ephemeral_options() -> EphemeralOptions {
    EphemeralOptions { wait: quick() }
}

async fn me(w: &WorkspaceClient) -> String {
    w.current_user().me().await.expect("me").user_name.unwrap_or_default()
}

mod registry {
    use super::*;

    #[tokio::test]
    async fn tenants_from_prefixed_environment_variables_or_nothing() {
        let emulator = fast().user("prod-bot@example.com", "prod-token").start().await.expect("emulator");
        let registry = ClientRegistry::builder()
            .environment([
                ("DATABRICKS_PROD_HOST", emulator.url()),
                ("DATABRICKS_PROD_TOKEN", "prod-token"),
                // Plain variables belong to no tenant and must not leak in.
                ("DATABRICKS_TOKEN", emulator.token()),
                ("HOME", "/nonexistent"),
            ])
            .build();
        let prod = registry.get("prod").await.expect("prod");
        assert_eq!(me(&prod).await, "prod-bot@example.com");
        let err = registry.get("staging").await.expect_err("no config for staging");
        assert!(err.message().contains("DATABRICKS_STAGING_"), "{}", err.message());
        assert!(!registry.contains("staging"), "a failure is not cached");
    }

    #[tokio::test]
    async fn a_tenant_resolves_from_its_own_profile_never_the_default_or_another_tenant() {
        let prod = fast().user("prod-bot@example.com", "prod-token").start().await.expect("prod");
        let other = fast().user("other-bot@example.com", "other-token").start().await.expect("other");
        let home = tempfile::tempdir().expect("home");
        let file = format!(
            "[DEFAULT]\nhost = {}\ntoken = other-token\n\n[prod]\nhost = {}\ntoken = prod-token\n",
            other.url(),
            prod.url()
        );
        std::fs::write(home.path().join(".databrickscfg"), file).expect("write cfg");
        let home_dir = home.path().display().to_string();
        let registry = ClientRegistry::builder()
            .environment([
                ("HOME", home_dir.as_str()),
                // Not a connection setting of tenant prod: its profile still applies.
                ("DATABRICKS_PROD_WAREHOUSE_ID", "wh-1"),
                // Tenant prod-eu's host, not prod's.
                ("DATABRICKS_PROD_EU_HOST", other.url()),
                ("DATABRICKS_PROD_EU_TOKEN", "other-token"),
            ])
            .build();
        let client = registry.get("prod").await.expect("prod");
        assert_eq!(me(&client).await, "prod-bot@example.com", "tenant prod talks to its own workspace");
        let eu = registry.get("prod-eu").await.expect("prod-eu from its variables");
        assert_eq!(me(&eu).await, "other-bot@example.com");
        let err = registry.get("nobody").await.expect_err("no variables, no profile");
        assert!(err.message().contains("DATABRICKS_NOBODY_HOST"), "{}", err.message());
    }

    #[tokio::test]
    async fn a_tenant_without_variables_uses_the_profile_of_its_name() {
        let emulator = fast().user("acme-bot@example.com", "acme-token").start().await.expect("emulator");
        let home = tempfile::tempdir().expect("home");
        let profile = format!("[acme]\nhost = {}\ntoken = acme-token\n", emulator.url());
        std::fs::write(home.path().join(".databrickscfg"), profile).expect("write cfg");
        let home_dir = home.path().display().to_string();
        let registry = ClientRegistry::builder()
            .environment([("HOME", home_dir.as_str()), ("DATABRICKS_TOKEN", "must-not-leak")])
            .build();
        let acme = registry.get("acme").await.expect("acme from its profile");
        assert_eq!(me(&acme).await, "acme-bot@example.com");
    }

    #[tokio::test]
    async fn hundred_tenants_with_their_own_credentials_and_lru_eviction() {
        let mut builder = fast();
        for i in 0..100 {
            builder = builder.user(format!("tenant-{i}@example.com"), format!("token-{i}"));
        }
        let emulator = builder.start().await.expect("emulator");
        let url = emulator.url().to_string();
        let registry = ClientRegistry::builder()
            .capacity(100)
            .resolver(move |tenant: String| {
                let url = url.clone();
                async move {
                    let i = tenant.trim_start_matches("t");
                    Config::builder().host(url).token(format!("token-{i}")).without_environment().build()
                }
            })
            .build();
        for i in 0..100 {
            let w = registry.get(&format!("t{i}")).await.expect("tenant");
            assert_eq!(me(&w).await, format!("tenant-{i}@example.com"), "tenant t{i} uses its own token");
        }
        assert_eq!((registry.len(), registry.builds()), (100, 100));
        // t0 is used again, so t1 is now the least recently used.
        registry.get("t0").await.expect("t0");
        // A 101st tenant needs a slot: the least recently used one goes.
        registry.get("t100").await.expect("built (its token is only checked on use)");
        registry.get("t5").await.expect("t5 still cached");
        assert_eq!(registry.builds(), 101, "t0 and t5 came from the cache");
        assert!(registry.contains("t0"));
        assert!(!registry.contains("t1"), "the least recently used tenant was evicted");
    }

    #[tokio::test]
    async fn fifty_concurrent_first_gets_build_one_client() {
        let (emulator, _) = workspace(fast()).await;
        let (url, token) = (emulator.url().to_string(), emulator.token().to_string());
        let resolved = Arc::new(AtomicUsize::new(0));
        let counter = resolved.clone();
        let registry = ClientRegistry::builder()
            .resolver(move |_tenant: String| {
                let (url, token, counter) = (url.clone(), token.clone(), counter.clone());
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Config::builder().host(url).token(token).without_environment().build()
                }
            })
            .build();
        let gets = (0..50).map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move { registry.get("solo").await.map(|_| ()) })
        });
        for get in futures::future::join_all(gets).await {
            get.expect("join").expect("get");
        }
        assert_eq!(resolved.load(Ordering::SeqCst), 1);
        assert_eq!(registry.builds(), 1);
    }

    #[tokio::test]
    async fn failing_resolver_is_retried_and_idle_clients_are_rebuilt() {
        let (emulator, _) = workspace(fast()).await;
        let (url, token) = (emulator.url().to_string(), emulator.token().to_string());
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let registry = ClientRegistry::builder()
            .idle_ttl(Duration::from_millis(100))
            .resolver(move |_tenant: String| {
                let (url, token, counter) = (url.clone(), token.clone(), counter.clone());
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(Error::config("tenant store unavailable"));
                    }
                    Config::builder().host(url).token(token).without_environment().build()
                }
            })
            .build();
        assert!(registry.get("x").await.is_err());
        registry.get("x").await.expect("second try resolves");
        registry.get("x").await.expect("cached");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
        registry.get("x").await.expect("rebuilt after idle TTL");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

mod guards {
    use super::*;

    async fn no_clusters_left(emulator: &EmulatorHandle) {
        wait_for_background_cleanups().await;
        assert_eq!(emulator.counters().clusters_total, 0, "every ephemeral cluster was permanently deleted");
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_after_success_and_has_safety_defaults() {
        let (emulator, w) = workspace(fast()).await;
        let seen = ephemeral_cluster(&w, spec(), ephemeral_options(), |cluster| async move {
            assert_eq!(cluster.state, Some(State::Running));
            Ok((cluster.autotermination_minutes, cluster.custom_tags.clone()))
        })
        .await
        .expect("body result");
        assert_eq!(seen.0, Some(30));
        assert_eq!(seen.1.get("Owner").map(String::as_str), Some("admin@example.com"));
        assert!(seen.1.contains_key(EPHEMERAL_TAG));
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_after_a_body_error() {
        let (emulator, w) = workspace(fast()).await;
        let err =
            ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async { Err::<(), _>(Error::config("job failed")) })
                .await
                .expect_err("body error");
        assert_eq!(err.message(), "job failed");
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_after_a_panic() {
        let (emulator, w) = workspace(fast()).await;
        let task = tokio::spawn(async move {
            ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async {
                panic!("body panicked");
                #[allow(unreachable_code)]
                Ok(())
            })
            .await
        });
        let joined = task.await;
        assert!(joined.is_err_and(|e| e.is_panic()), "the panic is resumed");
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_when_the_future_is_dropped_mid_run() {
        let (emulator, w) = workspace(fast()).await;
        let long_body = ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(500), long_body).await.is_err(), "timed out");
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_when_the_future_is_dropped_mid_cleanup() {
        let (emulator, w) = workspace(fast()).await;
        // Every delete takes 3 s: the caller's 1 s timeout fires while the guard is deleting.
        emulator.set_faults(FaultSettings {
            seed: 1,
            rules: vec![FaultRule {
                path_prefix: "/api/2.1/clusters/permanent-delete".into(),
                method: None,
                probability: 1.0,
                fault: Fault::Latency { ms: 3000 },
                phase: Phase::Before,
                times: None,
                query: None,
            }],
            rate_limit_per_principal: None,
        });
        let quick_body = ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async { Ok(()) });
        assert!(tokio::time::timeout(Duration::from_millis(1000), quick_body).await.is_err(), "dropped mid-cleanup");
        assert!(brickwork::patterns::pending_background_cleanups() >= 1, "the delete went on in the background");
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_when_dropped_while_its_create_is_still_on_the_way() {
        let (emulator, w) = workspace(fast()).await;
        // The server acts on the create only after the caller gave up on it:
        // a search by tag right after the drop finds nothing yet.
        emulator.set_faults(FaultSettings {
            seed: 1,
            rules: vec![FaultRule {
                path_prefix: "/api/2.1/clusters/create".into(),
                method: None,
                probability: 1.0,
                fault: Fault::Latency { ms: 600 },
                phase: Phase::Before,
                times: None,
                query: None,
            }],
            rate_limit_per_principal: None,
        });
        let guarded = ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async { Ok(()) });
        assert!(tokio::time::timeout(Duration::from_millis(300), guarded).await.is_err(), "dropped mid-create");
        wait_for_background_cleanups().await;
        // The create went through after all (the emulator finished it), and
        // its cluster was found and deleted.
        let created = emulator.counters().faults_by_kind.get("latency:before").copied();
        assert_eq!(created, Some(1));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(emulator.counters().clusters_total, 0, "the late cluster was found by its tag and deleted");
    }

    #[tokio::test]
    async fn a_delete_whose_answer_was_lost_and_that_finds_the_cluster_gone_is_a_clean_success() {
        let (emulator, w) = workspace(fast()).await;
        // The first delete is done but its answer lost; the retry is told the
        // cluster does not exist. The emulator draws faults from a seeded
        // source: pick a seed whose first draw fires and second does not.
        let seed = (0..)
            .find(|s| {
                let mut rng = fastrand::Rng::with_seed(*s);
                rng.f64() < 0.5 && rng.f64() >= 0.5
            })
            .unwrap_or_default();
        emulator.set_faults(FaultSettings {
            seed,
            rules: vec![FaultRule {
                path_prefix: "/api/2.1/clusters/permanent-delete".into(),
                method: None,
                probability: 0.5,
                fault: Fault::DropConnection,
                phase: Phase::After,
                times: None,
                query: None,
            }],
            rate_limit_per_principal: None,
        });
        let value = ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async { Ok(42) }).await;
        emulator.set_faults(FaultSettings::default());
        assert_eq!(value.expect("the cluster is gone, as asked"), 42);
        assert_eq!(emulator.counters().faults_injected_after, 1, "the first answer was lost");
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn managed_cluster_terminates_after_a_panic_and_keeps_the_body_error() {
        let (emulator, w) = workspace(fast()).await;
        let cluster = cluster_request(&w, "managed").await.expect("create").wait_with(quick()).await.expect("running");
        let id = cluster.cluster_id.expect("id");
        let options = || ManagedOptions { terminate_after: true, wait: quick() };
        let (w2, id2) = (w.clone(), id.clone());
        let panicked = tokio::spawn(async move {
            managed_cluster(&w2, &id2, options(), |_| async { panic!("body bug") as brickwork::Result<()> }).await
        })
        .await;
        assert!(panicked.is_err_and(|e| e.is_panic()), "the panic is resumed");
        let state = w.clusters().get(&id).await.expect("get").state;
        assert!(matches!(state, Some(State::Terminating | State::Terminated)), "terminated after the panic: {state:?}");

        // The body fails and so does the termination: the body's error is the one returned.
        emulator.set_faults(FaultSettings {
            seed: 2,
            rules: vec![FaultRule {
                path_prefix: "/api/2.1/clusters/delete".into(),
                method: None,
                probability: 1.0,
                fault: Fault::InternalError,
                phase: Phase::Before,
                times: None,
                query: None,
            }],
            rate_limit_per_principal: None,
        });
        let err = managed_cluster(&w, &id, options(), |_| async {
            Err::<(), _>(Error::new(ErrorKind::InvalidState, "the body's own failure"))
        })
        .await
        .expect_err("fails");
        assert_eq!(err.message(), "the body's own failure");
        emulator.set_faults(FaultSettings::default());
        wait_for_background_cleanups().await;
    }

    #[tokio::test]
    async fn ephemeral_cluster_is_deleted_when_the_wait_times_out() {
        let (emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
        let options = EphemeralOptions { wait: quick().timeout(Duration::from_millis(200)) };
        let err = ephemeral_cluster(&w, spec(), options, |_| async { Ok(()) }).await.expect_err("never runs");
        assert_eq!(err.kind(), ErrorKind::Timeout);
        no_clusters_left(&emulator).await;
        // And when the caller's own timeout fires before the cluster runs.
        let pending = ephemeral_cluster(&w, spec(), ephemeral_options(), |_| async { Ok(()) });
        assert!(tokio::time::timeout(Duration::from_millis(300), pending).await.is_err());
        no_clusters_left(&emulator).await;
    }

    #[tokio::test]
    async fn managed_cluster_starts_a_terminated_cluster_and_can_terminate_it() {
        let (_emulator, w) = workspace(fast()).await;
        let cluster = cluster_request(&w, "guarded").await.expect("create").wait_with(quick()).await.expect("cluster");
        let id = cluster.cluster_id.expect("id");
        w.clusters().delete(&id).await.expect("delete").wait_with(quick()).await.expect("stop");
        let options = ManagedOptions { terminate_after: true, wait: quick() };
        let state = managed_cluster(&w, &id, options, |c| async move { Ok(c.state) }).await.expect("ran");
        assert_eq!(state, Some(State::Running));
        let after = w.clusters().wait_get_cluster_terminated(&id).wait_with(quick()).await.expect("terminated");
        assert_eq!(after.state, Some(State::Terminated));
        let left_running =
            managed_cluster(&w, &id, ManagedOptions { wait: quick(), ..Default::default() }, |_| async { Ok(()) });
        left_running.await.expect("ran again");
        let now = w.clusters().get(id).await.expect("get");
        assert_eq!(now.state, Some(State::Running), "left running by default");
    }
}

mod job_builder {
    use super::*;

    #[test]
    fn parameters_and_wheel_tasks_keep_their_fields_apart() {
        let spec = JobBuilder::new("args")
            .parameter("run_date", "2026-01-01")
            .task(TaskSpec::python_wheel("w", "my_package", "main").environment("default"))
            .build()
            .expect("spec");
        let settings = serde_json::to_value(spec.settings()).expect("json");
        assert_eq!(settings["parameters"][0], serde_json::json!({"name": "run_date", "default": "2026-01-01"}));
        let wheel = &settings["tasks"][0]["python_wheel_task"];
        assert_eq!((wheel["package_name"].as_str(), wheel["entry_point"].as_str()), (Some("my_package"), Some("main")));
        // A field named `default` does not hide `Default::default()`.
        let empty = brickwork::service::jobs::JobParameterDefinition::default().set_default("x");
        assert_eq!(empty.default, "x");
    }

    fn cluster() -> ClusterSpec {
        ClusterSpec {
            spark_version: Some("15.4.x-scala2.12".into()),
            node_type_id: Some("i3.xlarge".into()),
            num_workers: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn invalid_specs_name_the_task_and_field_without_any_network_call() {
        let nb = |k: &str| TaskSpec::notebook(k, "/n").job_cluster("main");
        let base = || JobBuilder::new("j").job_cluster("main", cluster());
        let cases: Vec<(JobBuilder, Option<&str>, &str)> = vec![
            (JobBuilder::new(" ").task(nb("a")), None, "name"),
            (base(), None, "tasks"),
            (base().task(nb("a")).task(nb("a")), Some("a"), "task_key"),
            (base().task(nb("bad key!")), Some("bad key!"), "task_key"),
            (base().task(nb("a").depends_on(["ghost"])), Some("a"), "depends_on"),
            (base().task(nb("a").depends_on(["a"])), Some("a"), "depends_on"),
            (
                base().task(nb("a").depends_on(["c"])).task(nb("b").depends_on(["a"])).task(nb("c").depends_on(["b"])),
                Some("a"),
                "depends_on",
            ),
            (base().task(TaskSpec::notebook("a", "/n")), Some("a"), "compute"),
            (base().task(nb("a").existing_cluster("c")), Some("a"), "compute"),
            (base().task(TaskSpec::notebook("a", "/n").job_cluster("other")), Some("a"), "job_cluster_key"),
            (
                base().task(TaskSpec::notebook("a", "/n").new_cluster(ClusterSpec::default())),
                Some("a"),
                "new_cluster.spark_version",
            ),
            (base().task(nb("a").retries(-5, 0)), Some("a"), "max_retries"),
            (base().task(nb("a").timeout_seconds(-1)), Some("a"), "timeout_seconds"),
            (base().task(nb("a")).max_concurrent_runs(0), None, "max_concurrent_runs"),
            (base().task(nb("a")).schedule("0 0 *", "UTC"), None, "schedule"),
            (base().job_cluster("main", cluster()).task(nb("a")), None, "job_clusters"),
        ];
        for (builder, task, field) in cases {
            let err = builder.build().expect_err(field);
            assert_eq!((err.task.as_deref(), err.field.as_str()), (task, field), "{err}");
        }
        let cycle = base().task(nb("a").depends_on(["b"])).task(nb("b").depends_on(["a"])).build().expect_err("cycle");
        assert_eq!(cycle.to_string(), "task 'a', depends_on: dependency cycle a -> b -> a");
        let ok =
            base().task(nb("a")).task(TaskSpec::notebook("b", "/n").new_cluster(cluster()).depends_on(["a"])).build();
        assert!(ok.is_ok());
    }

    #[tokio::test]
    async fn upsert_is_idempotent_and_refuses_ambiguous_names() {
        let (emulator, w) = workspace(fast()).await;
        let spec = JobBuilder::new("deploy-me")
            .task(TaskSpec::notebook("a", "/n").environment("default"))
            .build()
            .expect("spec");
        let first = spec.upsert(&w).await.expect("create");
        let second = spec.upsert(&w).await.expect("update");
        assert!(matches!(first, Upserted::Created(_)));
        assert_eq!(second, Upserted::Updated(first.job_id()));
        assert_eq!(emulator.counters().jobs, 1, "deploying twice does not duplicate the job");
        // Another team's job whose name differs only in case is not ours to reset.
        let theirs = w.jobs().create().name("Deploy-Me").await.expect("theirs").job_id.expect("id");
        assert!(matches!(spec.upsert(&w).await.expect("ours"), Upserted::Updated(_)));
        let untouched = w.jobs().get(theirs).await.expect("get").settings.and_then(|s| s.name);
        assert_eq!(untouched.as_deref(), Some("Deploy-Me"));
        w.jobs().create().name("deploy-me").await.expect("twin");
        let err = spec.upsert(&w).await.expect_err("two jobs with that name");
        assert_eq!(err.kind(), ErrorKind::ResourceConflict);
    }

    #[tokio::test]
    async fn run_and_wait_reports_each_task_and_returns_the_run() {
        let (_emulator, w) = workspace(fast()).await;
        let options =
            || UploadOptions { format: ImportFormat::Source, language: Some(Language::Python), overwrite: true };
        w.workspace().upload("/Shared/bronze", "dbutils.notebook.exit('b')", options()).await.expect("upload");
        w.workspace().upload("/Shared/silver", "dbutils.notebook.exit('s')", options()).await.expect("upload");
        let spec = JobBuilder::new("two-step")
            .job_cluster("main", cluster())
            .task(TaskSpec::notebook("bronze", "/Shared/bronze").job_cluster("main"))
            .task(TaskSpec::notebook("silver", "/Shared/silver").job_cluster("main").depends_on(["bronze"]))
            .build()
            .expect("spec");
        let job_id = spec.upsert(&w).await.expect("upsert").job_id();
        let events: Arc<Mutex<Vec<TaskProgress>>> = Arc::default();
        let sink = events.clone();
        let run = JobSpec::run_and_wait(&w, job_id, BTreeMap::new(), quick(), move |p| {
            sink.lock().expect("lock").push(p.clone())
        })
        .await
        .expect("run");
        assert_eq!(run.state.and_then(|s| s.result_state).map(|r| r.to_string()).as_deref(), Some("SUCCESS"));
        let events = events.lock().expect("lock").clone();
        let done: Vec<&str> =
            events.iter().filter(|e| e.result.as_deref() == Some("SUCCESS")).map(|e| e.task_key.as_str()).collect();
        assert_eq!(done, vec!["bronze", "silver"], "each task reported once as it finished, in order: {events:?}");
    }
}

#[tokio::test]
async fn bulk_delete_of_500_jobs_under_injected_faults_accounts_for_every_item() {
    let (emulator, w) = workspace(fast()).await;
    let create = |i: usize| {
        let jobs = w.jobs();
        async move { jobs.create().name(format!("bulk-{i:03}")).await }
    };
    let created = brickwork::patterns::for_each_concurrent(futures::stream::iter((0..500).map(Ok)), 16, create).await;
    assert_eq!(created.succeeded.len(), 500);
    w.jobs().create().name("keep-me").await.expect("keeper");
    emulator.set_faults(FaultSettings {
        seed: 11,
        rules: vec![
            // Refused before acting: the client retries these.
            FaultRule {
                path_prefix: "/api/2.2/jobs/delete".into(),
                method: None,
                probability: 0.07,
                fault: Fault::TooManyRequests { retry_after_secs: 0 },
                phase: Phase::Before,
                times: None,
                query: None,
            },
            // Acted on, answer lost: jobs/delete is safe to replay by contract
            // (api/idempotent.tsv); the replay finds nothing, which is done.
            FaultRule {
                path_prefix: "/api/2.2/jobs/delete".into(),
                method: None,
                probability: 0.03,
                fault: Fault::DropConnection,
                phase: Phase::After,
                times: None,
                query: None,
            },
        ],
        rate_limit_per_principal: None,
    });
    let report = delete_jobs_where(&w, 16, |name| name.starts_with("bulk-")).await.expect("listing");
    let counters = emulator.counters();
    assert_eq!(report.total(), 500, "every item is accounted for");
    assert!(report.input_errors.is_empty());
    assert!(report.failed.is_empty(), "lost answers were replayed: {:?}", report.failed);
    assert_eq!(report.succeeded.len(), 500);
    assert!(counters.faults_injected_before > 0 && counters.faults_injected_after > 0, "faults were injected");
    assert_eq!(counters.jobs, 1, "all 500 were deleted; only keep-me is left");
}

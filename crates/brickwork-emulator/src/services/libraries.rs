//! Cluster libraries: install, uninstall, per-cluster and all-cluster status.
//!
//! An installed library is PENDING, then INSTALLING, then INSTALLED, one
//! transition delay apart. A PyPI package whose name starts with `fail-`
//! ends FAILED, so failures can be tested.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::api::{empty, required_str, ApiResult, Body, Params};
use crate::state::{AppState, Caller, World};
use crate::storage::{json_len, Holdings, StorageFull};

#[derive(Debug, Clone)]
struct Installed {
    library: Value,
    requested: Instant,
    uninstall: bool,
}

/// Libraries by cluster id.
#[derive(Debug, Default)]
pub struct Libraries {
    by_cluster: BTreeMap<String, Vec<Installed>>,
    /// Each cluster's libraries' count against the storage budget.
    held: Holdings<String>,
}

/// A library's identity: its JSON, as compared when installed again.
fn identity(library: &Value) -> String {
    library.to_string()
}

fn status_of(lib: &Installed, delay: Duration, now: Instant) -> (&'static str, Vec<String>) {
    if lib.uninstall {
        return ("UNINSTALL_ON_RESTART", vec![]);
    }
    let elapsed = now.duration_since(lib.requested);
    let failing = lib.library.pointer("/pypi/package").and_then(Value::as_str).is_some_and(|p| p.starts_with("fail-"));
    match (elapsed < delay, elapsed < delay * 2, failing) {
        (true, _, _) => ("PENDING", vec![]),
        (false, true, _) => ("INSTALLING", vec![]),
        (false, false, true) => (
            "FAILED",
            vec!["Library installation failed: could not find a version that satisfies the requirement".into()],
        ),
        _ => ("INSTALLED", vec![]),
    }
}

fn statuses(world: &World, cluster_id: &str) -> Vec<Value> {
    let delay = world.settings.transition_delay();
    let now = Instant::now();
    world
        .libraries
        .by_cluster
        .get(cluster_id)
        .into_iter()
        .flatten()
        .map(|lib| {
            let (status, messages) = status_of(lib, delay, now);
            let mut out = json!({"library": lib.library, "status": status, "is_library_for_all_clusters": false});
            if !messages.is_empty() {
                out["messages"] = json!(messages);
            }
            out
        })
        .collect()
}

/// The Libraries service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "libraries"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn on_event(&self, world: &mut World, event: &super::Event) {
        // Libraries are installed on a cluster: gone with it.
        let super::Event::ClusterRemoved { cluster_id } = event else { return };
        world.libraries.by_cluster.remove(cluster_id);
        world.libraries.held.release(cluster_id);
    }
}

impl Libraries {
    /// Clusters with libraries installed.
    pub fn cluster_count(&self) -> usize {
        self.by_cluster.len()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/libraries/install", post(install))
        .route("/api/2.0/libraries/uninstall", post(uninstall))
        .route("/api/2.0/libraries/cluster-status", get(cluster_status))
        .route("/api/2.0/libraries/all-cluster-statuses", get(all_statuses))
}

fn libraries_of(body: &Value) -> Vec<Value> {
    body.get("libraries").and_then(Value::as_array).cloned().unwrap_or_default()
}

async fn install(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let cluster_id = required_str(&body, "cluster_id")?.to_string();
    s.with(|w| {
        w.clusters.get(&cluster_id)?;
        super::clusters::may(w, &cluster_id, &caller, "CAN_MANAGE")?;
        // A library asked for again replaces its entry; one pass, however many.
        let mut asked: Vec<(String, Value)> = libraries_of(&body).into_iter().map(|l| (identity(&l), l)).collect();
        let mut seen = HashSet::new();
        asked.reverse();
        asked.retain(|(id, _)| seen.insert(id.clone()));
        asked.reverse();
        let mut libraries: Vec<Installed> = w.libraries.by_cluster.get(&cluster_id).cloned().unwrap_or_default();
        libraries.retain(|l| !seen.contains(&identity(&l.library)));
        let now = Instant::now();
        libraries.extend(asked.into_iter().map(|(_, library)| Installed { library, requested: now, uninstall: false }));
        let bytes = libraries.iter().map(|l| json_len(&l.library)).sum();
        w.libraries.held.count(&w.budget, cluster_id.clone(), bytes).map_err(StorageFull::api_error)?;
        w.libraries.by_cluster.insert(cluster_id, libraries);
        Ok::<_, crate::api::ApiError>(())
    })?;
    empty()
}

async fn uninstall(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let cluster_id = required_str(&body, "cluster_id")?.to_string();
    s.with(|w| {
        w.clusters.get(&cluster_id)?;
        super::clusters::may(w, &cluster_id, &caller, "CAN_MANAGE")?;
        let asked: HashSet<String> = libraries_of(&body).iter().map(identity).collect();
        for l in w.libraries.by_cluster.get_mut(&cluster_id).into_iter().flatten() {
            if asked.contains(&identity(&l.library)) {
                l.uninstall = true;
            }
        }
        Ok::<_, crate::api::ApiError>(())
    })?;
    empty()
}

async fn cluster_status(State(s): State<AppState>, params: Params) -> ApiResult {
    let cluster_id = params.required("cluster_id")?.to_string();
    s.with(|w| {
        w.clusters.get(&cluster_id)?;
        let list = statuses(w, &cluster_id);
        let mut out = json!({"cluster_id": cluster_id});
        if !list.is_empty() {
            out["library_statuses"] = json!(list);
        }
        Ok(Json(out))
    })
}

async fn all_statuses(State(s): State<AppState>) -> ApiResult {
    s.with(|w| {
        let all: Vec<Value> = w
            .libraries
            .by_cluster
            .keys()
            .map(|id| json!({"cluster_id": id, "library_statuses": statuses(w, id)}))
            .collect();
        Ok(Json(json!({"statuses": all})))
    })
}

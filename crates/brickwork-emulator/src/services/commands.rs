//! Command execution (API 1.2): execution contexts on a running cluster and
//! commands run in them. Commands are interpreted like notebooks: the
//! output is what top-level `print(...)` calls print; a `raise` is an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::api::{empty, required_str, ApiError, ApiResult, Body, Params};
use crate::ids;
use crate::notebook;
use crate::services::clusters::ClusterState;
use crate::state::{AppState, Caller, World};
use crate::storage::{Holdings, StorageFull};

#[derive(Debug, Clone)]
struct Command {
    source: String,
    started: Instant,
    cancelled: bool,
}

#[derive(Debug, Clone)]
struct Context {
    cluster_id: String,
    /// The cluster's Spark context it lives in: a restart or a new start
    /// makes another, and the contexts of the old one are gone.
    spark_context_id: i64,
    created: Instant,
    commands: BTreeMap<String, Command>,
    /// What its commands take, as counted against the storage budget.
    stored: u64,
}

/// Contexts by id, indexed by cluster.
#[derive(Debug, Default)]
pub struct Commands {
    contexts: BTreeMap<String, Context>,
    by_cluster: HashMap<String, BTreeSet<String>>,
    /// Each context's commands (their sources), counted against the storage budget.
    held: Holdings<String>,
}

/// The execution contexts a cluster holds at once.
const MAX_CONTEXTS_PER_CLUSTER: usize = 145;
/// What a command takes besides its source.
const COMMAND_OVERHEAD: u64 = 128;

impl Commands {
    fn add(&mut self, id: String, context: Context) {
        crate::index::file(&mut self.by_cluster, context.cluster_id.clone(), id.clone());
        self.contexts.insert(id, context);
    }

    fn remove(&mut self, id: &str) {
        if let Some(context) = self.contexts.remove(id) {
            crate::index::unfile(&mut self.by_cluster, &context.cluster_id, &id.to_string());
        }
        self.held.release(&id.to_string());
    }
}

/// The Command execution service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "commands"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn on_event(&self, world: &mut World, event: &super::Event) {
        // A context lives on its cluster: gone with it.
        let super::Event::ClusterRemoved { cluster_id } = event else { return };
        let on_it: Vec<String> = world.commands.by_cluster.get(cluster_id).into_iter().flatten().cloned().collect();
        on_it.iter().for_each(|id| world.commands.remove(id));
    }
}

impl Commands {
    /// Execution contexts open.
    pub fn context_count(&self) -> usize {
        self.contexts.len()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/1.2/contexts/create", post(create_context))
        .route("/api/1.2/contexts/status", get(context_status))
        .route("/api/1.2/contexts/destroy", post(destroy_context))
        .route("/api/1.2/commands/execute", post(execute))
        .route("/api/1.2/commands/status", get(command_status))
        .route("/api/1.2/commands/cancel", post(cancel))
}

fn context<'a>(w: &'a mut World, cluster_id: &str, context_id: &str) -> ApiResult<&'a mut Context> {
    let spark = w.clusters.get(cluster_id).map(|c| c.spark_context_id).ok();
    w.commands
        .contexts
        .get_mut(context_id)
        .filter(|c| c.cluster_id == cluster_id && Some(c.spark_context_id) == spark)
        .ok_or_else(|| ApiError::invalid(format!("Context {context_id} does not exist on cluster {cluster_id}.")))
}

impl Commands {
    /// Drop the contexts of `cluster_id` left from an earlier Spark context
    /// (the cluster restarted or started again since).
    fn drop_stale(&mut self, cluster_id: &str, spark_context_id: i64) {
        let stale: Vec<String> = self
            .by_cluster
            .get(cluster_id)
            .into_iter()
            .flatten()
            .filter(|id| self.contexts.get(*id).is_some_and(|c| c.spark_context_id != spark_context_id))
            .cloned()
            .collect();
        stale.iter().for_each(|id| self.remove(id));
    }
}

async fn create_context(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let cluster_id = required_str(&body, "clusterId")?.to_string();
    s.with(|w| {
        super::clusters::may(w, &cluster_id, &caller, "CAN_ATTACH_TO")?;
        let cluster = w.clusters.get_mut(&cluster_id)?;
        if cluster.state != ClusterState::Running {
            return Err(ApiError::invalid_state(format!("Cluster {cluster_id} is not running.")));
        }
        cluster.touch();
        let spark_context_id = cluster.spark_context_id;
        w.commands.drop_stale(&cluster_id, spark_context_id);
        if w.commands.by_cluster.get(&cluster_id).map_or(0, BTreeSet::len) >= MAX_CONTEXTS_PER_CLUSTER {
            return Err(ApiError::new(
                400,
                "QUOTA_EXCEEDED",
                format!("Too many execution contexts are open on cluster {cluster_id} (at most {MAX_CONTEXTS_PER_CLUSTER})."),
            ));
        }
        let id = ids::hex16();
        w.commands.held.count(&w.budget, id.clone(), 0).map_err(StorageFull::api_error)?;
        w.commands.add(id.clone(), Context { cluster_id, spark_context_id, created: Instant::now(), commands: BTreeMap::new(), stored: 0 });
        Ok(Json(json!({"id": id})))
    })
}

async fn context_status(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let (cluster_id, context_id) =
        (params.required("clusterId")?.to_string(), params.required("contextId")?.to_string());
    let delay = s.settings.transition_delay();
    s.with(|w| {
        super::clusters::may(w, &cluster_id, &caller, "CAN_ATTACH_TO")?;
        let ctx = context(w, &cluster_id, &context_id)?;
        let status = if ctx.created.elapsed() < delay { "Pending" } else { "Running" };
        Ok(Json(json!({"id": context_id, "status": status})))
    })
}

async fn destroy_context(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let (cluster_id, context_id) =
        (required_str(&body, "clusterId")?.to_string(), required_str(&body, "contextId")?.to_string());
    s.with(|w| {
        super::clusters::may(w, &cluster_id, &caller, "CAN_ATTACH_TO")?;
        context(w, &cluster_id, &context_id)?;
        w.commands.remove(&context_id);
        Ok::<_, ApiError>(())
    })?;
    empty()
}

async fn execute(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let cluster_id = required_str(&body, "clusterId")?.to_string();
    let context_id = required_str(&body, "contextId")?.to_string();
    let source = required_str(&body, "command")?.to_string();
    s.with(|w| {
        super::clusters::may(w, &cluster_id, &caller, "CAN_ATTACH_TO")?;
        if let Ok(cluster) = w.clusters.get_mut(&cluster_id) {
            cluster.touch();
        }
        let stored =
            context(w, &cluster_id, &context_id)?.stored.saturating_add(COMMAND_OVERHEAD + source.len() as u64);
        w.commands.held.count(&w.budget, context_id.clone(), stored).map_err(StorageFull::api_error)?;
        let ctx = context(w, &cluster_id, &context_id)?;
        ctx.stored = stored;
        let id = ids::hex16();
        ctx.commands.insert(id.clone(), Command { source, started: Instant::now(), cancelled: false });
        Ok(Json(json!({"id": id})))
    })
}

async fn command_status(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let cluster_id = params.required("clusterId")?.to_string();
    let context_id = params.required("contextId")?.to_string();
    let command_id = params.required("commandId")?.to_string();
    let duration = s.settings.task_duration();
    s.with(|w| {
        super::clusters::may(w, &cluster_id, &caller, "CAN_ATTACH_TO")?;
        let ctx = context(w, &cluster_id, &context_id)?;
        let cmd = ctx.commands.get(&command_id).ok_or_else(|| ApiError::invalid(format!("Command {command_id} does not exist.")))?;
        let out = if cmd.cancelled {
            json!({"id": command_id, "status": "Cancelled"})
        } else if cmd.started.elapsed() < duration {
            json!({"id": command_id, "status": "Running"})
        } else {
            match notebook::command(&cmd.source) {
                Ok(text) => json!({"id": command_id, "status": "Finished", "results": {"resultType": "text", "data": text}}),
                Err(error) => json!({"id": command_id, "status": "Error",
                    "results": {"resultType": "error", "summary": error, "cause": format!("---------------------------------------------------------------------------\n{error}")}}),
            }
        };
        Ok(Json(out))
    })
}

async fn cancel(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let cluster_id = required_str(&body, "clusterId")?.to_string();
    let context_id = required_str(&body, "contextId")?.to_string();
    let command_id = required_str(&body, "commandId")?.to_string();
    s.with(|w| {
        super::clusters::may(w, &cluster_id, &caller, "CAN_ATTACH_TO")?;
        let ctx = context(w, &cluster_id, &context_id)?;
        let cmd = ctx
            .commands
            .get_mut(&command_id)
            .ok_or_else(|| ApiError::invalid(format!("Command {command_id} does not exist.")))?;
        cmd.cancelled = true;
        Ok::<_, ApiError>(())
    })?;
    empty()
}

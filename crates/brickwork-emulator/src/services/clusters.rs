//! Clusters API 2.0/2.1: the state machine, validation and real error answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use crate::api::{empty, page, page_body, page_start, required_str, str_field, ApiError, ApiResult, Body, Params};
use crate::ids;
use crate::schedule::Deadlines;
use crate::services::{permissions, Event};
use crate::settings::Settings;
use crate::state::{now_ms, AppState, Caller};
use crate::storage::{Budget, Held, StorageFull};
use base64::Engine as _;

/// Spark versions offered, in the key/name patterns the SDK helpers parse.
pub const SPARK_VERSIONS: &[(&str, &str)] = &[
    ("12.2.x-scala2.12", "12.2 LTS (includes Apache Spark 3.3.2, Scala 2.12)"),
    ("13.3.x-scala2.12", "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)"),
    ("14.3.x-scala2.12", "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-scala2.12", "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-photon-scala2.12", "15.4 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-cpu-ml-scala2.12", "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-gpu-ml-scala2.12", "15.4 LTS ML (includes Apache Spark 3.5.0, GPU, Scala 2.12)"),
    ("16.4.x-scala2.12", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-photon-scala2.12", "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-cpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-gpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, GPU, Scala 2.12)"),
    ("17.0.x-scala2.13", "17.0 (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("17.3.x-scala2.13", "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)"),
];

/// The cloud a node type belongs to; it decides which storage attributes
/// the type reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
}

/// A node type offered.
#[derive(Debug)]
pub struct NodeType {
    pub id: &'static str,
    pub cloud: Cloud,
    pub memory_mb: i64,
    pub cores: f64,
    pub gpus: i64,
    /// Local disks (NVMe or SSD) for the disk cache; 0 for none.
    pub local_disks: i64,
    pub category: &'static str,
}

const fn node(id: &'static str, cloud: Cloud, memory_mb: i64, cores: f64, local_disks: i64) -> NodeType {
    NodeType { id, cloud, memory_mb, cores, gpus: 0, local_disks, category: "General Purpose" }
}

const fn kind(mut n: NodeType, category: &'static str, gpus: i64) -> NodeType {
    n.category = category;
    n.gpus = gpus;
    n
}

/// Node types of the three clouds: the emulator is no one cloud, so code
/// written for an Azure or GCP workspace runs on it unchanged.
pub const NODE_TYPES: &[NodeType] = &[
    node("i3.xlarge", Cloud::Aws, 31232, 4.0, 1),
    node("i3.2xlarge", Cloud::Aws, 62464, 8.0, 1),
    node("m5d.large", Cloud::Aws, 8192, 2.0, 1),
    node("m5d.xlarge", Cloud::Aws, 16384, 4.0, 1),
    node("m5d.2xlarge", Cloud::Aws, 32768, 8.0, 1),
    kind(node("r5d.xlarge", Cloud::Aws, 32768, 4.0, 1), "Memory Optimized", 0),
    kind(node("c5d.xlarge", Cloud::Aws, 8192, 4.0, 1), "Compute Optimized", 0),
    kind(node("g4dn.xlarge", Cloud::Aws, 16384, 4.0, 1), "GPU Accelerated", 1),
    node("Standard_DS3_v2", Cloud::Azure, 14336, 4.0, 0),
    node("Standard_DS4_v2", Cloud::Azure, 28672, 8.0, 0),
    node("Standard_D4ds_v5", Cloud::Azure, 16384, 4.0, 1),
    kind(node("Standard_E8ds_v4", Cloud::Azure, 65536, 8.0, 1), "Memory Optimized", 0),
    kind(node("Standard_F4s", Cloud::Azure, 8192, 4.0, 0), "Compute Optimized", 0),
    kind(node("Standard_L8s_v3", Cloud::Azure, 65536, 8.0, 1), "Storage Optimized", 0),
    kind(node("Standard_NC6s_v3", Cloud::Azure, 114688, 6.0, 1), "GPU Accelerated", 1),
    node("n2-standard-4", Cloud::Gcp, 16384, 4.0, 0),
    node("n2-standard-8", Cloud::Gcp, 32768, 8.0, 0),
    kind(node("n2-highmem-4", Cloud::Gcp, 32768, 4.0, 0), "Memory Optimized", 0),
    kind(node("n2-highcpu-8", Cloud::Gcp, 8192, 8.0, 0), "Compute Optimized", 0),
    kind(node("a2-highgpu-1g", Cloud::Gcp, 87040, 12.0, 1), "GPU Accelerated", 1),
];

/// Cluster states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    Pending,
    Running,
    Restarting,
    Resizing,
    Terminating,
    Terminated,
}

impl ClusterState {
    pub fn wire(self) -> &'static str {
        match self {
            ClusterState::Pending => "PENDING",
            ClusterState::Running => "RUNNING",
            ClusterState::Restarting => "RESTARTING",
            ClusterState::Resizing => "RESIZING",
            ClusterState::Terminating => "TERMINATING",
            ClusterState::Terminated => "TERMINATED",
        }
    }

    /// `Running`, as the INVALID_STATE messages spell states.
    fn title(self) -> String {
        let wire = self.wire();
        format!("{}{}", &wire[..1], wire[1..].to_lowercase())
    }
}

/// Events kept per cluster.
const EVENTS_KEPT: usize = 1_000;

/// One cluster.
#[derive(Debug)]
pub struct Cluster {
    pub id: String,
    pub spec: Map<String, Value>,
    pub state: ClusterState,
    pub state_message: String,
    /// The transition in progress and when it completes.
    pub next: Option<(Instant, ClusterState)>,
    pub source: &'static str,
    pub creator: String,
    pub start_time: i64,
    pub terminated_time: Option<i64>,
    pub last_restarted_time: Option<i64>,
    pub last_activity: Instant,
    /// When its pending transition deadline is stored for (none waiting: `None`).
    transition_check: Option<Instant>,
    /// When its idle deadline is stored for.
    idle_check: Option<Instant>,
    /// When it last became terminated (for its retention).
    terminated_at: Option<Instant>,
    pub termination_reason: Option<Value>,
    pub pinned: bool,
    pub spark_context_id: i64,
    pub events: Vec<Value>,
    /// The spec's count against the storage budget.
    held: Held,
}

impl Cluster {
    fn transition(&mut self, to: ClusterState, message: &str, settle: ClusterState, delay: Duration, now: Instant) {
        self.state = to;
        self.state_message = message.to_string();
        self.next = Some((now + delay, settle));
    }

    fn event(&mut self, kind: &str, details: Value) {
        // The newest events are kept: a cluster used for months keeps a bounded log.
        if self.events.len() >= EVENTS_KEPT {
            self.events.drain(..self.events.len() + 1 - EVENTS_KEPT);
        }
        self.events.push(json!({"cluster_id": self.id, "timestamp": now_ms(), "type": kind, "details": details}));
    }

    fn terminate(&mut self, reason: Value, delay: Duration, now: Instant) {
        if matches!(self.state, ClusterState::Terminating | ClusterState::Terminated) {
            return;
        }
        self.termination_reason = Some(reason.clone());
        self.transition(ClusterState::Terminating, "Terminating", ClusterState::Terminated, delay, now);
        self.event("TERMINATING", json!({"reason": reason}));
    }

    fn settle(&mut self, to: ClusterState) {
        self.next = None;
        self.state = to;
        match to {
            ClusterState::Running => {
                self.state_message = String::new();
                self.last_activity = Instant::now();
                self.event("RUNNING", json!({"current_num_workers": self.num_workers()}));
            }
            ClusterState::Terminated => {
                self.terminated_time = Some(now_ms());
                self.terminated_at = Some(Instant::now());
                self.state_message =
                    match self.termination_reason.as_ref().and_then(|r| r.get("code")).and_then(Value::as_str) {
                        Some("INACTIVITY") => "Inactive cluster terminated".to_string(),
                        Some("JOB_FINISHED") => "Job finished".to_string(),
                        _ => "Terminated by user".to_string(),
                    };
            }
            _ => {}
        }
    }

    /// Its auto-termination, in minutes (0: none). Job clusters end with their run instead.
    fn idle_minutes(&self) -> i64 {
        if self.source == "JOB" {
            return 0;
        }
        self.spec.get("autotermination_minutes").and_then(Value::as_i64).unwrap_or(0).clamp(0, 100_000)
    }

    fn num_workers(&self) -> i64 {
        self.spec
            .get("num_workers")
            .and_then(Value::as_i64)
            .or_else(|| self.spec.get("autoscale").and_then(|a| a.get("min_workers")).and_then(Value::as_i64))
            .unwrap_or(0)
    }

    /// Mark the cluster as used (keeps auto-termination away).
    pub fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// The JSON of `clusters/get` (`with_spec`) or of a list item.
    pub fn render(&self, with_spec: bool) -> Value {
        serde_json::to_value(Rendered { cluster: self, with_spec }).unwrap_or_default()
    }
}

/// What the workspace sets in a cluster's answer, over a spec field of the
/// same name.
const ADDED_FIELDS: &[&str] = &[
    "num_workers",
    "cluster_id",
    "state",
    "state_message",
    "start_time",
    "creator_user_name",
    "cluster_source",
    "spark_context_id",
    "default_tags",
    "terminated_time",
    "last_restarted_time",
    "termination_reason",
    "spec",
];

/// A cluster as the API answers it: its spec and what the workspace adds,
/// built without first copying the spec (`clusters/get` is the hottest read).
struct Rendered<'a> {
    cluster: &'a Cluster,
    with_spec: bool,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DefaultTags<'a> {
    vendor: &'static str,
    creator: &'a str,
    cluster_name: &'a Value,
    cluster_id: &'a str,
}

impl serde::Serialize for Rendered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let c = self.cluster;
        let spec = &c.spec;
        let mut out = serializer.serialize_map(None)?;
        for (key, value) in spec.iter().filter(|(key, _)| !ADDED_FIELDS.contains(&key.as_str())) {
            out.serialize_entry(key, value)?;
        }
        if !spec.contains_key("driver_node_type_id") {
            out.serialize_entry("driver_node_type_id", spec.get("node_type_id").unwrap_or(&Value::Null))?;
        }
        let unnamed = Value::String(String::new());
        let name = spec.get("cluster_name").unwrap_or(&unnamed);
        if !spec.contains_key("cluster_name") {
            out.serialize_entry("cluster_name", name)?;
        }
        out.serialize_entry("num_workers", &c.num_workers())?;
        out.serialize_entry("cluster_id", &c.id)?;
        out.serialize_entry("state", c.state.wire())?;
        out.serialize_entry("state_message", &c.state_message)?;
        out.serialize_entry("start_time", &c.start_time)?;
        out.serialize_entry("creator_user_name", &c.creator)?;
        out.serialize_entry("cluster_source", c.source)?;
        out.serialize_entry("spark_context_id", &c.spark_context_id)?;
        let tags = DefaultTags { vendor: "Databricks", creator: &c.creator, cluster_name: name, cluster_id: &c.id };
        out.serialize_entry("default_tags", &tags)?;
        if let Some(t) = c.terminated_time {
            out.serialize_entry("terminated_time", &t)?;
        }
        if let Some(t) = c.last_restarted_time {
            out.serialize_entry("last_restarted_time", &t)?;
        }
        if let Some(reason) = &c.termination_reason {
            if matches!(c.state, ClusterState::Terminating | ClusterState::Terminated) {
                out.serialize_entry("termination_reason", reason)?;
            }
        }
        if self.with_spec {
            out.serialize_entry("spec", spec)?;
        }
        out.end()
    }
}

/// A spec under its policy (defaults filled in, rules checked) and in its
/// instance pool (the pool's node type, room in its capacity).
pub fn governed(w: &crate::state::World, caller: &Caller, spec: &mut Map<String, Value>) -> ApiResult<()> {
    if let Some(policy) = spec.get("policy_id").and_then(Value::as_str).map(str::to_string) {
        super::policies::apply(w, &policy, caller, spec)?;
    }
    if let Some(pool) = spec.get("instance_pool_id").and_then(Value::as_str).map(str::to_string) {
        super::pools::apply(w, &pool, caller, spec)?;
    }
    Ok(())
}

/// `Ok` when `caller` holds `level` on the cluster (an unknown cluster is
/// left to the call's own not-found answer).
pub fn may(w: &crate::state::World, id: &str, caller: &Caller, level: &str) -> ApiResult<()> {
    if w.clusters.get(id).is_err() {
        return Ok(());
    }
    permissions::require(w, &permissions::CLUSTERS, id, caller, level, || {
        ApiError::permission_denied(format!(
            "User {} does not have {level} permission on cluster {id}.",
            caller.user_name
        ))
    })
}

/// How long a cluster may stand idle before it auto-terminates.
fn idle_limit(settings: &Settings, minutes: i64) -> Duration {
    settings.minute().saturating_mul(u32::try_from(minutes).unwrap_or(u32::MAX))
}

/// All clusters of the workspace.
#[derive(Debug, Default)]
pub struct Clusters {
    by_id: BTreeMap<String, Cluster>,
    /// When a cluster's transition settles, or its idle time may have run out.
    due: Deadlines<(String, Check)>,
    /// Clusters changed since their deadlines were last planned.
    changed: BTreeSet<String>,
    /// Clusters by the pool or policy their spec names, so a pool's usage
    /// or a policy's quota counts its own clusters, not all of them. Kept
    /// current as clusters are created, changed (at the next advance) and
    /// removed; readers check each cluster's spec.
    grouped: BTreeMap<(GroupedBy, String), BTreeSet<String>>,
    groups_of: HashMap<String, Vec<(GroupedBy, String)>>,
    /// Every cluster in each listing order (as created, by name), kept
    /// like `grouped`: a page of `clusters/list` reads from its cursor on,
    /// not every cluster terminated in the last 30 days.
    listing: [BTreeSet<SortKey>; 2],
    listed_as: HashMap<String, [SortKey; 2]>,
}

/// A spec field clusters are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupedBy {
    /// `instance_pool_id`
    Pool,
    /// `policy_id`
    Policy,
}

impl GroupedBy {
    fn field(self) -> &'static str {
        match self {
            GroupedBy::Pool => "instance_pool_id",
            GroupedBy::Policy => "policy_id",
        }
    }
}

/// What a deadline of a cluster is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// The transition in progress completes.
    Transition,
    /// Auto-termination, if nothing used the cluster meanwhile.
    Idle,
    /// Removal, if it is still terminated (and not pinned) when its
    /// retention runs out.
    Retention,
}

impl Clusters {
    /// Settle the transitions, idle terminations and removals due by
    /// `now`: the clusters whose deadlines came, not every cluster. Answers
    /// the clusters removed (terminated past their retention).
    pub fn advance(&mut self, now: Instant, settings: &Settings) -> Vec<String> {
        // Nothing written when nothing changed: the world is read from both
        // worker threads, and a write moves its cache line between them.
        if !self.changed.is_empty() {
            for id in std::mem::take(&mut self.changed) {
                self.regroup(&id);
                self.plan(&id, settings);
            }
        }
        let mut removed = Vec::new();
        for (_, (id, check)) in self.due.due(now) {
            let Some(cluster) = self.by_id.get_mut(&id) else { continue };
            match check {
                Check::Transition => {
                    cluster.transition_check = None;
                    if let Some((_, to)) = cluster.next.filter(|(at, _)| *at <= now) {
                        cluster.settle(to);
                        self.relist(&id);
                        if to == ClusterState::Terminated {
                            let retention =
                                settings.minute().saturating_mul(settings.terminated_cluster_retention_minutes);
                            self.due.schedule(now + retention, (id.clone(), Check::Retention));
                        }
                    }
                }
                Check::Retention => {
                    let retention = settings.minute().saturating_mul(settings.terminated_cluster_retention_minutes);
                    let expired = cluster.state == ClusterState::Terminated
                        && !cluster.pinned
                        && cluster.terminated_at.is_some_and(|at| now.duration_since(at) >= retention);
                    if expired {
                        self.by_id.remove(&id);
                        self.regroup(&id);
                        removed.push(id);
                    }
                    continue;
                }
                Check::Idle => {
                    cluster.idle_check = None;
                    let idle_minutes = cluster.idle_minutes();
                    if cluster.state == ClusterState::Running
                        && now.duration_since(cluster.last_activity) >= idle_limit(settings, idle_minutes)
                    {
                        let reason = json!({"code": "INACTIVITY", "type": "SUCCESS", "parameters": {"inactivity_duration_min": idle_minutes.to_string()}});
                        cluster.terminate(reason, settings.transition_delay(), now);
                    }
                }
            }
            self.plan(&id, settings);
        }
        removed
    }

    /// File `id` where each listing order puts it now (nowhere, once removed).
    fn relist(&mut self, id: &str) {
        for (listing, key) in self.listing.iter_mut().zip(self.listed_as.remove(id).into_iter().flatten()) {
            listing.remove(&key);
        }
        let Some(cluster) = self.by_id.get(id) else { return };
        let keys = [sort_key(cluster, false), sort_key(cluster, true)];
        for (listing, key) in self.listing.iter_mut().zip(&keys) {
            listing.insert(key.clone());
        }
        self.listed_as.insert(id.to_string(), keys);
    }

    /// File the clusters changed since the last advance where they now
    /// belong: another service may have started or changed one earlier in
    /// this same request.
    fn relist_changed(&mut self) {
        let changed: Vec<String> = self.changed.iter().cloned().collect();
        changed.iter().for_each(|id| self.relist(id));
    }

    /// Clusters in a listing's order after the cursor `after`.
    fn listed<'a>(
        &'a self,
        by_name: bool,
        descending: bool,
        after: Option<&SortKey>,
    ) -> Box<dyn Iterator<Item = (&'a SortKey, &'a Cluster)> + 'a> {
        use std::ops::Bound::{Excluded, Unbounded};
        let listing = &self.listing[usize::from(by_name)];
        let keys: Box<dyn Iterator<Item = &SortKey>> = match (after, descending) {
            (None, false) => Box::new(listing.iter()),
            (None, true) => Box::new(listing.iter().rev()),
            (Some(after), false) => Box::new(listing.range((Excluded(after), Unbounded))),
            (Some(after), true) => Box::new(listing.range(..after).rev()),
        };
        Box::new(keys.filter_map(move |key| Some((key, self.by_id.get(&key.3)?))))
    }

    /// File `id` under the pool and policy its spec names now (nowhere, once
    /// removed), and in the listing orders.
    fn regroup(&mut self, id: &str) {
        self.relist(id);
        for key in self.groups_of.remove(id).unwrap_or_default() {
            if let Some(ids) = self.grouped.get_mut(&key) {
                ids.remove(id);
                if ids.is_empty() {
                    self.grouped.remove(&key);
                }
            }
        }
        let Some(cluster) = self.by_id.get(id) else { return };
        let keys: Vec<(GroupedBy, String)> = [GroupedBy::Pool, GroupedBy::Policy]
            .into_iter()
            .filter_map(|by| cluster.spec.get(by.field()).and_then(Value::as_str).map(|v| (by, v.to_string())))
            .collect();
        for key in &keys {
            self.grouped.entry(key.clone()).or_default().insert(id.to_string());
        }
        if !keys.is_empty() {
            self.groups_of.insert(id.to_string(), keys);
        }
    }

    /// The clusters whose spec names `value` as its pool or policy.
    pub fn grouped(&self, by: GroupedBy, value: &str) -> impl Iterator<Item = &Cluster> + '_ {
        let value = value.to_string();
        self.grouped
            .get(&(by, value.clone()))
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
            .filter(move |c| c.spec.get(by.field()).and_then(Value::as_str) == Some(value.as_str()))
    }

    /// Store the deadlines `id` has now (at most one of each kind waits).
    fn plan(&mut self, id: &str, settings: &Settings) {
        let Some(cluster) = self.by_id.get_mut(id) else { return };
        if let Some((at, _)) = cluster.next {
            if cluster.transition_check != Some(at) {
                cluster.transition_check = Some(at);
                self.due.schedule(at, (id.to_string(), Check::Transition));
            }
        }
        let idle_minutes = cluster.idle_minutes();
        if cluster.state == ClusterState::Running && idle_minutes > 0 && cluster.idle_check.is_none() {
            // Looked at when the idle time would run out; used meanwhile, it is planned again.
            let at = cluster.last_activity + idle_limit(settings, idle_minutes);
            cluster.idle_check = Some(at);
            self.due.schedule(at, (id.to_string(), Check::Idle));
        }
    }

    /// Deadlines waiting: bounded by the clusters, not the requests.
    #[cfg(test)]
    fn deadlines(&self) -> usize {
        self.due.len()
    }

    pub fn live_count(&self) -> usize {
        self.by_id.values().filter(|c| c.state != ClusterState::Terminated).count()
    }

    pub fn total(&self) -> usize {
        self.by_id.len()
    }

    pub fn get(&self, id: &str) -> ApiResult<&Cluster> {
        self.by_id.get(id).ok_or_else(|| does_not_exist(id))
    }

    /// A cluster to change; its deadlines are planned again afterwards.
    pub fn get_mut(&mut self, id: &str) -> ApiResult<&mut Cluster> {
        let cluster = self.by_id.get_mut(id).ok_or_else(|| does_not_exist(id))?;
        self.changed.insert(id.to_string());
        Ok(cluster)
    }

    /// Remove a cluster for good.
    pub fn remove(&mut self, id: &str) -> ApiResult<Cluster> {
        let cluster = self.by_id.remove(id).ok_or_else(|| does_not_exist(id))?;
        self.regroup(id);
        Ok(cluster)
    }

    /// Create a cluster in PENDING; `source` is `API` or `JOB`.
    pub fn create(
        &mut self,
        spec: Map<String, Value>,
        creator: &str,
        source: &'static str,
        settings: &Settings,
        budget: &Arc<Budget>,
    ) -> ApiResult<String> {
        validate_spec(&spec, "")?;
        let held = budget.hold_json(&spec).map_err(StorageFull::api_error)?;
        let now = Instant::now();
        let id = ids::cluster_id();
        let mut cluster = Cluster {
            id: id.clone(),
            spec,
            state: ClusterState::Pending,
            state_message: "Starting cluster".into(),
            next: None,
            source,
            creator: creator.to_string(),
            start_time: now_ms(),
            terminated_time: None,
            last_restarted_time: None,
            last_activity: now,
            transition_check: None,
            idle_check: None,
            terminated_at: None,
            termination_reason: None,
            pinned: false,
            spark_context_id: fastrand::i64(1_000_000_000..9_000_000_000),
            events: Vec::new(),
            held,
        };
        cluster.transition(
            ClusterState::Pending,
            "Starting cluster",
            ClusterState::Running,
            settings.transition_delay(),
            now,
        );
        cluster.event("CREATING", json!({"user": creator}));
        self.by_id.insert(id.clone(), cluster);
        self.regroup(&id);
        self.changed.insert(id.clone());
        Ok(id)
    }

    /// Start a TERMINATED cluster.
    pub fn start(&mut self, id: &str, settings: &Settings) -> ApiResult<()> {
        let cluster = self.get_mut(id)?;
        if cluster.state != ClusterState::Terminated {
            return Err(unexpected_state(cluster));
        }
        let now = Instant::now();
        cluster.termination_reason = None;
        cluster.terminated_time = None;
        cluster.spark_context_id += 1;
        cluster.transition(
            ClusterState::Pending,
            "Starting cluster",
            ClusterState::Running,
            settings.transition_delay(),
            now,
        );
        cluster.event("STARTING", json!({}));
        Ok(())
    }

    /// Terminate (the `delete` call): no-op when already terminating.
    pub fn terminate(&mut self, id: &str, code: &str, user: &str, settings: &Settings) -> ApiResult<()> {
        let reason = json!({"code": code, "type": "SUCCESS", "parameters": {"username": user}});
        self.get_mut(id)?.terminate(reason, settings.transition_delay(), Instant::now());
        Ok(())
    }
}

fn does_not_exist(id: &str) -> ApiError {
    ApiError::invalid(format!("Cluster {id} does not exist"))
}

fn unexpected_state(cluster: &Cluster) -> ApiError {
    ApiError::invalid_state(format!("Cluster {} is in unexpected state {}.", cluster.id, cluster.state.title()))
}

/// Server-side checks of a cluster spec; `prefix` names the field path in
/// messages (`settings.cluster_spec.new_cluster.` for jobs).
pub fn validate_spec(spec: &Map<String, Value>, prefix: &str) -> ApiResult<()> {
    let version = spec.get("spark_version").and_then(Value::as_str).filter(|s| !s.is_empty());
    let version = version.ok_or_else(|| ApiError::missing(&format!("{prefix}spark_version")))?;
    if !SPARK_VERSIONS.iter().any(|(k, _)| *k == version) {
        return Err(ApiError::invalid(format!("Invalid spark version {version}.")));
    }
    if !spec.contains_key("instance_pool_id") {
        let node = spec.get("node_type_id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let node = node.ok_or_else(|| ApiError::invalid("Missing required field 'node_type_id'"))?;
        if !NODE_TYPES.iter().any(|n| n.id == node) {
            return Err(ApiError::invalid(format!("Node type {node} is not supported.")));
        }
    }
    let workers = spec.get("num_workers");
    let autoscale = spec.get("autoscale");
    match (workers, autoscale) {
        (None, None) => {
            let field = if prefix.is_empty() { "size".to_string() } else { format!("{prefix}size") };
            return Err(ApiError::missing(&field));
        }
        (Some(n), _) if n.as_i64().is_none_or(|n| n < 0) => {
            return Err(ApiError::invalid(format!("Invalid num_workers: {n}")));
        }
        (_, Some(a)) => {
            let min = a.get("min_workers").and_then(Value::as_i64).unwrap_or(-1);
            let max = a.get("max_workers").and_then(Value::as_i64).unwrap_or(-1);
            if min < 0 || max < min {
                return Err(ApiError::invalid(format!("Invalid autoscale: min_workers {min}, max_workers {max}")));
            }
        }
        _ => {}
    }
    if let Some(minutes) = spec.get("autotermination_minutes") {
        let ok = minutes.as_i64().is_some_and(|m| m == 0 || (10..=10_000).contains(&m));
        if !ok {
            return Err(ApiError::invalid(format!(
                "Invalid autotermination_minutes: {minutes}. It must be 0 or between 10 and 10000."
            )));
        }
    }
    Ok(())
}

/// The Clusters service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "clusters"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn advance(&self, world: &mut crate::state::World, now: Instant) {
        for cluster_id in world.clusters.advance(now, &world.settings) {
            world.emit(Event::ClusterRemoved { cluster_id });
        }
    }
}

fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for v in ["2.0", "2.1"] {
        router = router
            .route(&format!("/api/{v}/clusters/create"), post(create))
            .route(&format!("/api/{v}/clusters/edit"), post(edit))
            .route(&format!("/api/{v}/clusters/update"), post(update))
            .route(&format!("/api/{v}/clusters/get"), get(get_cluster))
            .route(&format!("/api/{v}/clusters/list"), get(list))
            .route(&format!("/api/{v}/clusters/start"), post(start))
            .route(&format!("/api/{v}/clusters/restart"), post(restart))
            .route(&format!("/api/{v}/clusters/resize"), post(resize))
            .route(&format!("/api/{v}/clusters/delete"), post(delete))
            .route(&format!("/api/{v}/clusters/permanent-delete"), post(permanent_delete))
            .route(&format!("/api/{v}/clusters/pin"), post(pin))
            .route(&format!("/api/{v}/clusters/unpin"), post(unpin))
            .route(&format!("/api/{v}/clusters/change-owner"), post(change_owner))
            .route(&format!("/api/{v}/clusters/events"), post(events))
            .route(&format!("/api/{v}/clusters/spark-versions"), get(spark_versions))
            .route(&format!("/api/{v}/clusters/list-node-types"), get(node_types))
            .route(&format!("/api/{v}/clusters/list-zones"), get(zones));
    }
    router
}

fn object(body: Value) -> Map<String, Value> {
    match body {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The spec part of a create/edit body: the specification's fields only.
/// Anything else (ids, a misspelt field) is dropped, as the service drops
/// it, rather than stored and echoed back.
pub fn spec_of(mut body: Map<String, Value>) -> Map<String, Value> {
    crate::shapes::prune(&mut body, crate::shapes::CLUSTER_SPEC);
    body
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let settings = s.settings.clone();
    s.with(|w| {
        let mut spec = spec_of(object(body.clone()));
        if let Some(source_id) = body.get("clone_from").and_then(|c| c.get("source_cluster_id")).and_then(Value::as_str)
        {
            let mut cloned = w.clusters.get(source_id)?.spec.clone();
            cloned.extend(spec);
            spec = cloned;
        }
        governed(w, &caller, &mut spec)?;
        let id = w.clusters.create(spec, &caller.user_name, "API", &settings, &w.budget)?;
        permissions::created(w, &permissions::CLUSTERS, &id, &caller);
        Ok(Json(json!({"cluster_id": id})))
    })
}

/// Any user sees every cluster (as the compute list does); using one takes a grant.
async fn get_cluster(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let id = params.required("cluster_id")?;
    // Rendered under the lock, written to bytes after it: measured, this
    // keeps the two worker threads from parking and waking on every call.
    s.with(|w| Ok(Json(w.clusters.get(id)?.render(true))))
}

async fn list(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let states = params.all("filter_by.cluster_states");
    let sources = params.all("filter_by.cluster_sources");
    let pinned = params.bool("filter_by.is_pinned")?;
    let policy = params.get("filter_by.policy_id");
    let page_size = params.int("page_size")?.unwrap_or(100).clamp(1, 100) as usize;
    let by_name = params.get("sort_by.field") == Some("CLUSTER_NAME");
    let descending = params.get("sort_by.direction") == Some("DESC");
    s.with(|w| {
        w.clusters.relist_changed();
        // From the cursor on, in the listing's own order: clusters created or
        // deleted between pages neither repeat nor push others out.
        let after = params.get("page_token").map(cursor_key).transpose()?;
        // Terminated clusters sort last as created: a filter without them
        // stops where they start.
        let live_only = !by_name && !states.is_empty() && !states.contains(&ClusterState::Terminated.wire());
        let mut matching = w
            .clusters
            .listed(by_name, descending, after.as_ref())
            .take_while(|(key, _)| !(live_only && !descending && key.0))
            .filter(|(_, c)| states.is_empty() || states.contains(&c.state.wire()))
            .filter(|(_, c)| sources.is_empty() || sources.contains(&c.source))
            .filter(|(_, c)| pinned.is_none_or(|p| p == c.pinned))
            .filter(|(_, c)| policy.is_none_or(|p| c.spec.get("policy_id").and_then(Value::as_str) == Some(p)));
        let page: Vec<(&SortKey, &Cluster)> = matching.by_ref().take(page_size).collect();
        let next = match (page.last(), matching.next()) {
            (Some((key, _)), Some(_)) => Some(cursor(key)),
            _ => None,
        };
        let page: Vec<&Cluster> = page.into_iter().map(|(_, c)| c).collect();
        let clusters: Vec<Value> = page.iter().map(|c| c.render(false)).collect();
        Ok(Json(page_body(json!({}), "clusters", clusters, next)))
    })
}

/// Where a cluster sorts in a listing: terminated ones last and newest
/// first (or by name), then by id so the order is total.
type SortKey = (bool, i64, String, String);

fn sort_key(c: &Cluster, by_name: bool) -> SortKey {
    if by_name {
        let name = c.spec.get("cluster_name").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        (false, 0, name, c.id.clone())
    } else {
        (c.state == ClusterState::Terminated, -c.start_time, String::new(), c.id.clone())
    }
}

/// A page token: the sort key of the page's last cluster, opaque to clients.
fn cursor(key: &SortKey) -> String {
    let text = json!([key.0, key.1, key.2, key.3]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("clusters:{text}"))
}

fn cursor_key(token: &str) -> ApiResult<SortKey> {
    let invalid = || ApiError::invalid(format!("Invalid page token: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let parts: Value =
        serde_json::from_str(text.strip_prefix("clusters:").ok_or_else(invalid)?).map_err(|_| invalid())?;
    match (parts[0].as_bool(), parts[1].as_i64(), parts[2].as_str(), parts[3].as_str()) {
        (Some(a), Some(b), Some(c), Some(d)) => Ok((a, b, c.to_string(), d.to_string())),
        _ => Err(invalid()),
    }
}

fn cluster_id(body: &Value) -> ApiResult<String> {
    required_str(body, "cluster_id").map(str::to_string)
}

async fn start(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = cluster_id(&body)?;
    let settings = s.settings.clone();
    s.with(|w| {
        may(w, &id, &caller, "CAN_RESTART")?;
        w.clusters.start(&id, &settings)
    })?;
    empty()
}

async fn restart(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let id = cluster_id(&body)?;
    let delay = s.settings.transition_delay();
    s.with(|w| {
        may(w, &id, &caller, "CAN_RESTART")?;
        let c = w.clusters.get_mut(&id)?;
        if c.state != ClusterState::Running {
            return Err(unexpected_state(c));
        }
        c.last_restarted_time = Some(now_ms());
        c.spark_context_id += 1;
        c.transition(ClusterState::Restarting, "Restarting Spark", ClusterState::Running, delay, Instant::now());
        c.event("RESTARTING", json!({}));
        Ok(())
    })?;
    empty()
}

async fn resize(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = cluster_id(&body)?;
    let delay = s.settings.transition_delay();
    s.with(|w| {
        may(w, &id, &caller, "CAN_RESTART")?;
        let c = w.clusters.get_mut(&id)?;
        if c.state != ClusterState::Running {
            return Err(unexpected_state(c));
        }
        let mut spec = c.spec.clone();
        match (body.get("num_workers"), body.get("autoscale")) {
            (Some(n), _) if !n.is_null() => {
                spec.remove("autoscale");
                spec.insert("num_workers".into(), n.clone());
            }
            (_, Some(a)) if !a.is_null() => {
                spec.remove("num_workers");
                spec.insert("autoscale".into(), a.clone());
            }
            _ => return Err(ApiError::missing("num_workers")),
        }
        // The new size answers to the cluster's policy and pool as a new spec would.
        governed(w, &caller, &mut spec)?;
        validate_spec(&spec, "")?;
        let c = w.clusters.get_mut(&id)?;
        c.held.resize_json(&spec).map_err(StorageFull::api_error)?;
        c.spec = spec;
        c.transition(ClusterState::Resizing, "Resizing cluster", ClusterState::Running, delay, Instant::now());
        c.event("RESIZING", json!({"target_num_workers": c.num_workers()}));
        Ok(())
    })?;
    empty()
}

/// Apply a new spec: a running cluster restarts, a terminated one keeps it for the next start.
fn apply_spec(c: &mut Cluster, spec: Map<String, Value>, delay: Duration) -> ApiResult<()> {
    if c.source == "JOB" {
        return Err(ApiError::invalid(format!("Cluster {} is a job cluster and cannot be edited.", c.id)));
    }
    if !matches!(c.state, ClusterState::Running | ClusterState::Terminated) {
        return Err(unexpected_state(c));
    }
    validate_spec(&spec, "")?;
    c.held.resize_json(&spec).map_err(StorageFull::api_error)?;
    c.spec = spec;
    c.event("EDITED", json!({}));
    if c.state == ClusterState::Running {
        c.transition(
            ClusterState::Restarting,
            "Restarting to apply new settings",
            ClusterState::Running,
            delay,
            Instant::now(),
        );
    }
    Ok(())
}

async fn edit(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = cluster_id(&body)?;
    let delay = s.settings.transition_delay();
    let spec = spec_of(object(body));
    s.with(|w| {
        may(w, &id, &caller, "CAN_MANAGE")?;
        let mut spec = spec;
        governed(w, &caller, &mut spec)?;
        apply_spec(w.clusters.get_mut(&id)?, spec, delay)
    })?;
    empty()
}

async fn update(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = cluster_id(&body)?;
    let mask = required_str(&body, "update_mask")?.to_string();
    let partial = object(body.get("cluster").cloned().unwrap_or_default());
    let delay = s.settings.transition_delay();
    s.with(|w| {
        may(w, &id, &caller, "CAN_MANAGE")?;
        let mut spec = w.clusters.get(&id)?.spec.clone();
        if mask.trim() == "*" {
            spec = spec_of(partial);
        } else {
            let known = |f: &&str| crate::shapes::has_field(crate::shapes::CLUSTER_SPEC, f);
            for field in mask.split(',').map(str::trim).filter(|f| !f.is_empty()).filter(known) {
                match partial.get(field) {
                    Some(v) if !v.is_null() => {
                        let mut v = v.clone();
                        crate::shapes::prune_field(crate::shapes::CLUSTER_SPEC, field, &mut v);
                        spec.insert(field.to_string(), v)
                    }
                    _ => spec.remove(field),
                };
            }
        }
        governed(w, &caller, &mut spec)?;
        apply_spec(w.clusters.get_mut(&id)?, spec, delay)
    })?;
    empty()
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = cluster_id(&body)?;
    let settings = s.settings.clone();
    s.with(|w| {
        may(w, &id, &caller, "CAN_RESTART")?;
        w.clusters.terminate(&id, "USER_REQUEST", &caller.user_name, &settings)
    })?;
    empty()
}

async fn permanent_delete(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let id = cluster_id(&body)?;
    s.with(|w| {
        may(w, &id, &caller, "CAN_MANAGE")?;
        w.clusters.remove(&id)?;
        w.emit(Event::ClusterRemoved { cluster_id: id.clone() });
        Ok::<_, ApiError>(())
    })?;
    empty()
}

async fn pin(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    set_pinned(s, &caller, body, true)
}

async fn unpin(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    set_pinned(s, &caller, body, false)
}

fn set_pinned(s: AppState, caller: &Caller, body: Value, pinned: bool) -> ApiResult {
    let id = cluster_id(&body)?;
    s.with(|w| {
        may(w, &id, caller, "CAN_MANAGE")?;
        let c = w.clusters.get_mut(&id)?;
        if c.pinned != pinned {
            c.pinned = pinned;
            c.event(if pinned { "PINNED" } else { "UNPINNED" }, json!({}));
        }
        Ok(())
    })?;
    empty()
}

async fn change_owner(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let id = cluster_id(&body)?;
    let owner = required_str(&body, "owner_username")?.to_string();
    if !caller.admin {
        return Err(ApiError::permission_denied("Only workspace admins can change cluster owners."));
    }
    s.with(|w| {
        w.clusters.get_mut(&id)?.creator = owner;
        Ok(())
    })?;
    empty()
}

async fn events(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let id = cluster_id(&body)?;
    let ascending = str_field(&body, "order")? == Some("ASC");
    let types: Vec<String> = body
        .get("event_types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let limit = body.get("page_size").or_else(|| body.get("limit")).and_then(Value::as_i64).unwrap_or(50).clamp(1, 500)
        as usize;
    let start = match str_field(&body, "page_token")? {
        Some(token) => page_start(Some(token))?,
        None => usize::try_from(body.get("offset").and_then(Value::as_i64).unwrap_or(0).max(0)).unwrap_or(usize::MAX),
    };
    s.with(|w| {
        let c = w.clusters.get(&id)?;
        let mut events: Vec<Value> = c
            .events
            .iter()
            .filter(|e| {
                types.is_empty() || e.get("type").and_then(Value::as_str).is_some_and(|t| types.iter().any(|x| x == t))
            })
            .cloned()
            .collect();
        if !ascending {
            events.reverse();
        }
        let (items, next) = page(&events, start, limit);
        let mut out = page_body(json!({"total_count": events.len()}), "events", items, next.clone());
        if let Some(next) = next {
            // The whole request for the next page, as the official iterator posts it.
            let mut next_request = body.clone();
            next_request["page_token"] = json!(next);
            if let Some(obj) = next_request.as_object_mut() {
                obj.remove("offset");
            }
            out["next_page"] = next_request;
        }
        Ok(Json(out))
    })
}

async fn spark_versions() -> Json<Value> {
    let versions: Vec<Value> = SPARK_VERSIONS.iter().map(|(k, n)| json!({"key": k, "name": n})).collect();
    Json(json!({"versions": versions}))
}

async fn node_types() -> Json<Value> {
    let types: Vec<Value> = NODE_TYPES.iter().map(render_node_type).collect();
    Json(json!({"node_types": types}))
}

fn render_node_type(n: &NodeType) -> Value {
    json!({
        "node_type_id": n.id, "instance_type_id": n.id, "memory_mb": n.memory_mb, "num_cores": n.cores,
        "num_gpus": n.gpus, "description": n.id, "category": n.category, "is_deprecated": false, "is_hidden": false,
        "photon_driver_capable": n.gpus == 0, "photon_worker_capable": n.gpus == 0, "support_cluster_tags": true,
        "support_ebs_volumes": n.cloud == Cloud::Aws, "is_io_cache_enabled": n.local_disks > 0,
        "node_instance_type": {"instance_type_id": n.id, "local_disks": n.local_disks, "local_disk_size_gb": 150 * n.local_disks},
    })
}

async fn zones() -> Json<Value> {
    Json(json!({"zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "default_zone": "us-east-1c"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_found_by_the_pool_their_spec_names_now() {
        let settings = Settings::default();
        let mut clusters = Clusters::default();
        let spec = json!({"spark_version": "15.4.x-scala2.12", "instance_pool_id": "a", "num_workers": 1, "node_type_id": "i3.xlarge"});
        let id = clusters
            .create(spec.as_object().cloned().unwrap_or_default(), "me", "API", &settings, &Budget::new(u64::MAX))
            .expect("created");
        let ids = |clusters: &Clusters, pool: &str| -> Vec<String> {
            clusters.grouped(GroupedBy::Pool, pool).map(|c| c.id.clone()).collect()
        };
        assert_eq!(ids(&clusters, "a"), [id.as_str()]);
        clusters.get_mut(&id).expect("cluster").spec.insert("instance_pool_id".into(), json!("b"));
        assert!(ids(&clusters, "a").is_empty(), "its spec no longer names pool a");
        clusters.advance(Instant::now(), &settings);
        assert_eq!(ids(&clusters, "b"), [id.as_str()]);
        assert!(clusters.grouped.keys().all(|(_, pool)| pool == "b"), "nothing left filed under a");
        clusters.remove(&id).expect("removed");
        assert!(ids(&clusters, "b").is_empty() && clusters.grouped.is_empty() && clusters.groups_of.is_empty());
    }

    #[test]
    fn a_cluster_used_over_and_over_keeps_one_deadline_of_each_kind() {
        let settings = Settings { transition_delay_ms: 0, ..Settings::default() };
        let mut clusters = Clusters::default();
        let spec = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1, "autotermination_minutes": 30});
        let spec = spec.as_object().cloned().unwrap_or_default();
        let id = clusters.create(spec, "me", "API", &settings, &Budget::new(u64::MAX)).expect("created");
        clusters.advance(Instant::now(), &settings);
        assert_eq!(clusters.get(&id).map(|c| c.state).ok(), Some(ClusterState::Running));
        for _ in 0..1_000 {
            clusters.get_mut(&id).expect("cluster").touch();
            clusters.advance(Instant::now(), &settings);
        }
        assert!(clusters.deadlines() <= 2, "{} deadlines waiting", clusters.deadlines());
        // Gone, its deadlines are dropped as they come, never acted on.
        clusters.remove(&id).expect("removed");
        clusters.advance(Instant::now() + Duration::from_secs(3600), &settings);
        assert_eq!(clusters.deadlines(), 0);
    }
}

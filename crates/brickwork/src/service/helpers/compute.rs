//! Cluster helpers: pick a Spark version or node type, start a cluster if needed.

use std::time::Instant;

use crate::error::{Error, ErrorKind, OperationState};
use crate::service::compute::{
    ClusterDetails, ClustersApi, CommandExecutionApi, CommandStatusResponse, Language, LibrariesApi, Library,
    LibraryFullStatus, LibraryInstallStatus, NodeType, ResultType, Results, State,
};
use crate::service::WaitOptions;
use crate::Result;

/// Which Spark version [`ClustersApi::select_spark_version`] picks.
#[derive(Debug, Clone)]
pub struct SparkVersionFilter {
    /// Only LTS releases.
    pub long_term_support: bool,
    /// Machine-learning runtimes.
    pub ml: bool,
    /// GPU runtimes.
    pub gpu: bool,
    /// Photon runtimes.
    pub photon: bool,
    /// Beta releases allowed.
    pub beta: bool,
    /// Scala version in the key (`2.12`).
    pub scala: String,
    /// A substring of the Apache Spark version in the name, e.g. `3.5`.
    pub spark_version: Option<String>,
}

impl Default for SparkVersionFilter {
    fn default() -> Self {
        SparkVersionFilter {
            long_term_support: false,
            ml: false,
            gpu: false,
            photon: false,
            beta: false,
            scala: "2.12".into(),
            spark_version: None,
        }
    }
}

impl SparkVersionFilter {
    /// Only LTS releases.
    pub fn long_term_support(mut self, yes: bool) -> Self {
        self.long_term_support = yes;
        self
    }

    /// Machine-learning runtimes.
    pub fn ml(mut self, yes: bool) -> Self {
        self.ml = yes;
        self
    }

    /// GPU runtimes.
    pub fn gpu(mut self, yes: bool) -> Self {
        self.gpu = yes;
        self
    }

    /// Photon runtimes.
    pub fn photon(mut self, yes: bool) -> Self {
        self.photon = yes;
        self
    }

    /// Beta releases allowed.
    pub fn beta(mut self, yes: bool) -> Self {
        self.beta = yes;
        self
    }

    /// A substring of the Apache Spark version in the name, e.g. `3.5`.
    pub fn spark_version(mut self, version: impl Into<String>) -> Self {
        self.spark_version = Some(version.into());
        self
    }
}

/// Which node type [`ClustersApi::select_node_type`] picks: the smallest that fits.
#[derive(Debug, Clone, Default)]
pub struct NodeTypeFilter {
    /// At least this much memory.
    pub min_memory_gb: Option<i64>,
    /// At least this many cores.
    pub min_cores: Option<f64>,
    /// At least this many GPUs.
    pub min_gpus: Option<i64>,
    /// With local disks.
    pub local_disk: bool,
    /// Photon-capable driver and workers.
    pub photon: bool,
}

impl NodeTypeFilter {
    /// At least this much memory.
    pub fn min_memory_gb(mut self, gb: i64) -> Self {
        self.min_memory_gb = Some(gb);
        self
    }

    /// At least this many cores.
    pub fn min_cores(mut self, cores: f64) -> Self {
        self.min_cores = Some(cores);
        self
    }

    /// At least this many GPUs.
    pub fn min_gpus(mut self, gpus: i64) -> Self {
        self.min_gpus = Some(gpus);
        self
    }

    /// With local disks.
    pub fn local_disk(mut self, yes: bool) -> Self {
        self.local_disk = yes;
        self
    }

    /// Photon-capable driver and workers.
    pub fn photon(mut self, yes: bool) -> Self {
        self.photon = yes;
        self
    }
}

/// `15.4.x-scala2.12` -> (15, 4) for ordering.
fn version_rank(key: &str) -> (u32, u32) {
    let mut parts = key.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

impl ClustersApi {
    /// The newest Spark version matching `filter`, as the official helper selects it.
    pub async fn select_spark_version(&self, filter: &SparkVersionFilter) -> Result<String> {
        let versions = self.spark_versions().await?.versions;
        let mut matching: Vec<(String, String)> = versions
            .into_iter()
            .filter_map(|v| Some((v.key?, v.name.unwrap_or_default())))
            .filter(|(key, name)| {
                key.contains(&format!("-scala{}", filter.scala))
                    && key.contains("-ml-") == filter.ml
                    && key.contains("-gpu-") == filter.gpu
                    && key.contains("-photon-") == filter.photon
                    && !key.contains("-hls-")
                    && !key.contains("-aarch64-")
                    && !key.starts_with("apache-spark-")
                    && (!filter.long_term_support || name.contains("LTS"))
                    && (filter.beta || !name.contains("Beta"))
                    && filter.spark_version.as_ref().is_none_or(|v| name.contains(&format!("Apache Spark {v}")))
            })
            .collect();
        matching.sort_by_key(|(key, _)| std::cmp::Reverse(version_rank(key)));
        matching
            .into_iter()
            .next()
            .map(|(key, _)| key)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "spark versions query returned no results"))
    }

    /// The smallest node type matching `filter`.
    pub async fn select_node_type(&self, filter: &NodeTypeFilter) -> Result<String> {
        let mut types: Vec<NodeType> = self.list_node_types().await?.node_types;
        types.retain(|t| {
            let memory_gb = t.memory_mb / 1024;
            let local_disks = t
                .node_instance_type
                .as_ref()
                .map(|i| i.local_disks.unwrap_or(0) + i.local_nvme_disks.unwrap_or(0))
                .unwrap_or(0);
            !t.is_deprecated.unwrap_or(false)
                && !t.is_hidden.unwrap_or(false)
                && filter.min_memory_gb.is_none_or(|m| memory_gb >= m)
                && filter.min_cores.is_none_or(|c| t.num_cores >= c)
                && filter.min_gpus.is_none_or(|g| t.num_gpus.unwrap_or(0) >= g)
                && (!filter.local_disk || local_disks > 0)
                && (!filter.photon
                    || (t.photon_driver_capable.unwrap_or(false) && t.photon_worker_capable.unwrap_or(false)))
        });
        types.sort_by(|a, b| {
            let key = |t: &NodeType| (t.memory_mb, t.num_cores, t.num_gpus.unwrap_or(0));
            key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal)
        });
        types
            .into_iter()
            .map(|t| t.node_type_id)
            .find(|id| !id.is_empty())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "cannot determine smallest node type"))
    }

    /// Make sure the cluster is RUNNING: start it if terminated, wait while it
    /// is pending, restarting, resizing or terminating; fail on ERROR. The
    /// timeout of `options` is the deadline of the whole sequence.
    pub async fn ensure_cluster_is_running(
        &self,
        cluster_id: &str,
        options: WaitOptions<ClusterDetails>,
    ) -> Result<()> {
        let deadline = Instant::now().checked_add(options.timeout_duration());
        let remaining = |options: &WaitOptions<ClusterDetails>| -> Result<WaitOptions<ClusterDetails>> {
            match deadline {
                None => Ok(options.clone()),
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Ok(options.clone().timeout(left)),
                    _ => Err(Error::new(
                        ErrorKind::Timeout,
                        format!("cluster {cluster_id} did not reach RUNNING within {:?}", options.timeout_duration()),
                    )),
                },
            }
        };
        loop {
            let info = self.get(cluster_id).await?;
            let result = match info.state.clone() {
                Some(State::Running) => return Ok(()),
                Some(State::Terminated) => match self.start(cluster_id).await {
                    Ok(pending) => pending.wait_with(remaining(&options)?).await.map(|_| ()),
                    Err(e) => Err(e),
                },
                Some(State::Terminating) => {
                    self.wait_get_cluster_terminated(cluster_id).wait_with(remaining(&options)?).await?;
                    match self.start(cluster_id).await {
                        Ok(pending) => pending.wait_with(remaining(&options)?).await.map(|_| ()),
                        Err(e) => Err(e),
                    }
                }
                Some(State::Pending | State::Resizing | State::Restarting) => {
                    self.wait_get_cluster_running(cluster_id).wait_with(remaining(&options)?).await.map(|_| ())
                }
                other => {
                    let state = other.map(|s| s.to_string()).unwrap_or_else(|| "UNKNOWN".into());
                    let message = info.state_message.unwrap_or_default();
                    return Err(Error::new(
                        ErrorKind::OperationFailed,
                        format!("cluster {cluster_id} is {state}: {message}"),
                    ));
                }
            };
            match result {
                Ok(()) => return Ok(()),
                // Someone else started it, or it terminated under us: look again.
                Err(e) if e.kind() == ErrorKind::InvalidState || e.kind() == ErrorKind::OperationFailed => {
                    tracing::debug!("cluster {cluster_id} changed state, retrying: {e}");
                    remaining(&options)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl LibrariesApi {
    /// Install and uninstall libraries on a cluster, then wait until every
    /// library asked for is final (INSTALLED, SKIPPED, UNINSTALL_ON_RESTART,
    /// ...). A library that FAILED is an `OperationFailed` error naming it,
    /// with the server's messages. Returns the cluster's statuses.
    pub async fn update_and_wait(
        &self,
        cluster_id: &str,
        install: Vec<Library>,
        uninstall: Vec<Library>,
        options: WaitOptions<Vec<LibraryFullStatus>>,
    ) -> Result<Vec<LibraryFullStatus>> {
        let watched: Vec<String> = install.iter().chain(uninstall.iter()).map(library_key).collect();
        if !install.is_empty() {
            self.install(cluster_id, install).await?;
        }
        if !uninstall.is_empty() {
            self.uninstall(cluster_id, uninstall).await?;
        }
        let deadline = Instant::now().checked_add(options.timeout_duration());
        let mut attempt = 1u32;
        loop {
            let status: Vec<LibraryFullStatus> = self.cluster_status(cluster_id).try_collect().await?;
            // Matched by what the library is, not by equality: the server may
            // echo a library with more fields (a default repo) than was sent.
            let ours: Vec<&LibraryFullStatus> = status
                .iter()
                .filter(|s| s.library.as_ref().is_some_and(|l| watched.contains(&library_key(l))))
                .collect();
            let reported =
                |key: &String| ours.iter().any(|s| s.library.as_ref().map(library_key).as_ref() == Some(key));
            let unreported = watched.iter().any(|key| !reported(key));
            if let Some(failed) = ours.iter().find(|s| s.status == Some(LibraryInstallStatus::Failed)) {
                let message = failed.messages.join("; ");
                return Err(Error::operation_failed(
                    format!("library {:?} failed to install on {cluster_id}: {message}", failed.library),
                    OperationState {
                        state: "FAILED".into(),
                        message: Some(message),
                        resource_id: Some(cluster_id.to_string()),
                        ..Default::default()
                    },
                ));
            }
            let pending = |s: &&&LibraryFullStatus| {
                matches!(
                    s.status,
                    Some(
                        LibraryInstallStatus::Pending
                            | LibraryInstallStatus::Resolving
                            | LibraryInstallStatus::Installing
                    ) | None
                )
            };
            if !unreported && !ours.iter().any(|s| pending(&s)) {
                return Ok(status);
            }
            options.report(&status);
            let sleep = options.backoff(attempt);
            if deadline.is_some_and(|d| Instant::now().checked_add(sleep).is_none_or(|wake| wake > d)) {
                return Err(Error::new(ErrorKind::Timeout, format!("libraries on {cluster_id} are still installing")));
            }
            tokio::time::sleep(sleep).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

/// What a library is: its kind and package, coordinates or path.
fn library_key(library: &Library) -> String {
    if let Some(p) = &library.pypi {
        return format!("pypi:{}", p.package);
    }
    if let Some(m) = &library.maven {
        return format!("maven:{}", m.coordinates);
    }
    if let Some(c) = &library.cran {
        return format!("cran:{}", c.package);
    }
    let paths =
        [("jar", &library.jar), ("whl", &library.whl), ("egg", &library.egg), ("requirements", &library.requirements)];
    paths
        .iter()
        .find_map(|(kind, path)| path.as_ref().map(|p| format!("{kind}:{p}")))
        .unwrap_or_else(|| serde_json::to_string(library).unwrap_or_default())
}

impl CommandExecutionApi {
    /// Run one command on a running cluster: create an execution context,
    /// execute, wait, and destroy the context (also on failure). A command
    /// that errors is an `OperationFailed` error with its summary.
    pub async fn run_command(
        &self,
        cluster_id: &str,
        language: Language,
        command: &str,
        options: WaitOptions<CommandStatusResponse>,
    ) -> Result<Results> {
        let context = self
            .create()
            .cluster_id(cluster_id)
            .language(language.clone())
            .await?
            .wait_with(options.same_timing())
            .await?;
        let context_id = context.id.ok_or_else(|| Error::decode("contexts/status returned no id"))?;
        let outcome = match self
            .execute()
            .cluster_id(cluster_id)
            .context_id(context_id.clone())
            .language(language)
            .command(command)
            .await
        {
            Ok(pending) => pending.wait_with(options).await,
            Err(e) => Err(e),
        };
        if let Err(e) = self.destroy(cluster_id, context_id).await {
            tracing::warn!("could not destroy execution context on {cluster_id}: {e}");
        }
        let results = outcome?.results.unwrap_or_default();
        if results.result_type == Some(ResultType::Error) {
            let summary = results.summary.clone().or_else(|| results.cause.clone()).unwrap_or_default();
            return Err(Error::operation_failed(
                format!("command failed on {cluster_id}: {summary}"),
                OperationState {
                    state: "Error".into(),
                    message: Some(summary),
                    resource_id: Some(cluster_id.to_string()),
                    ..Default::default()
                },
            ));
        }
        Ok(results)
    }
}

//! The emulated services. Each is a module with its routes and its state;
//! the [`REGISTRY`] line makes it part of the workspace: its routes served,
//! its stored deadlines advanced, and the other services' events delivered
//! to it. Adding a service is one module, its store in `World`, and one line.

pub mod admin;
pub mod catalog;
pub mod clusters;
pub mod commands;
pub mod dbfs;
pub mod identity;
pub mod jobs;
pub mod libraries;
pub mod oauth;
pub mod permissions;
pub mod pipelines;
pub mod policies;
pub mod pools;
pub mod repos;
pub mod scim;
pub mod secrets;
pub mod serving;
pub mod tokens;
pub mod uploads;
pub mod warehouses;
pub mod workspace;

use std::time::Instant;

use axum::Router;

use crate::state::{AppState, World};

/// One emulated Databricks service.
pub trait Service: Sync {
    /// The name logs and the parity table use.
    fn name(&self) -> &'static str;

    /// Its HTTP routes.
    fn routes(&self) -> Router<AppState>;

    /// Carry out what has come due by `now` (a transition finished, a
    /// timeout, retention). Runs before every request is served: it must
    /// cost the work that is due, found from stored deadlines, never a scan
    /// of everything the service holds.
    fn advance(&self, _world: &mut World, _now: Instant) {}

    /// React to another service's change (a cluster gone takes its
    /// libraries and execution contexts with it).
    fn on_event(&self, _world: &mut World, _event: &Event) {}
}

/// A change one service announces to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A cluster is gone for good: permanently deleted, or past retention.
    ClusterRemoved { cluster_id: String },
    /// A user or service principal was deleted: its credentials stop working.
    PrincipalDeleted { name: String },
    /// A volume is gone: its files go with it.
    VolumeDeleted { path: String },
    /// Volumes were renamed (a volume, or the schema or catalog holding
    /// them): the files under `from` move to `to`.
    VolumeRenamed { from: String, to: String },
    /// An object with an access control list is gone, named as the
    /// Permissions API names it (`/jobs/123`, `/notebooks/4567`).
    ObjectGone { object_id: String },
}

/// Every service of the workspace, in the order time advances through them.
pub static REGISTRY: &[&dyn Service] = &[
    &identity::Api,
    &oauth::Api,
    &scim::Api,
    &policies::Api,
    &pools::Api,
    &clusters::Api,
    &libraries::Api,
    &commands::Api,
    &jobs::Api,
    &pipelines::Api,
    &workspace::Api,
    &repos::Api,
    &secrets::Api,
    &permissions::Api,
    &tokens::Api,
    &dbfs::Api,
    &uploads::Api,
    &warehouses::Api,
    &serving::Api,
    &catalog::Api,
];

/// Every service's routes.
pub fn routes() -> Router<AppState> {
    REGISTRY.iter().fold(Router::new(), |router, service| router.merge(service.routes()))
}

//! One module per Databricks service; each exposes `routes()`.

pub mod admin;
pub mod catalog;
pub mod clusters;
pub mod commands;
pub mod dbfs;
pub mod identity;
pub mod jobs;
pub mod libraries;
pub mod oauth;
pub mod scim;
pub mod secrets;
pub mod uploads;
pub mod warehouses;
pub mod workspace;

use axum::Router;

use crate::state::AppState;

/// Every service's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(identity::routes())
        .merge(oauth::routes())
        .merge(scim::routes())
        .merge(clusters::routes())
        .merge(jobs::routes())
        .merge(workspace::routes())
        .merge(secrets::routes())
        .merge(dbfs::routes())
        .merge(uploads::routes())
        .merge(warehouses::routes())
        .merge(catalog::routes())
        .merge(libraries::routes())
        .merge(commands::routes())
}

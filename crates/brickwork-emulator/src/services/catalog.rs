//! Unity Catalog basics: catalogs and schemas (create, get, list, update, delete).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use crate::api::{empty, page, page_body, page_start, required_str, str_field, ApiError, ApiResult, Body, Params};
use crate::state::{now_ms, AppState, Caller};

#[derive(Debug, Default)]
pub struct Catalog {
    catalogs: BTreeMap<String, Value>,
    schemas: BTreeMap<String, Value>,
}

fn not_found(kind: &str, name: &str) -> ApiError {
    ApiError::new(404, "NOT_FOUND", format!("{kind} '{name}' does not exist."))
}

fn valid_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > 255 || name.contains(['.', ' ', '/']) {
        return Err(ApiError::invalid(format!("Invalid name '{name}': names cannot contain '.', ' ' or '/'.")));
    }
    Ok(())
}

/// The Unity Catalog service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.1/unity-catalog/catalogs", get(list_catalogs).post(create_catalog))
        .route("/api/2.1/unity-catalog/catalogs/{name}", get(get_catalog).patch(update_catalog).delete(delete_catalog))
        .route("/api/2.1/unity-catalog/schemas", get(list_schemas).post(create_schema))
        .route("/api/2.1/unity-catalog/schemas/{full_name}", get(get_schema).delete(delete_schema))
}

fn listing(items: Vec<Value>, key: &str, params: &Params) -> ApiResult {
    let size = params.int("max_results")?.filter(|n| *n > 0).unwrap_or(1000).min(1000) as usize;
    let (items, next) = page(&items, page_start(params.get("page_token"))?, size);
    Ok(Json(page_body(json!({}), key, items, next)))
}

async fn create_catalog(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let name = required_str(&body, "name")?.to_string();
    valid_name(&name)?;
    let comment = str_field(&body, "comment")?.map(str::to_string);
    s.with(|w| {
        if w.catalog.catalogs.contains_key(&name) {
            return Err(ApiError::new(409, "CATALOG_ALREADY_EXISTS", format!("Catalog '{name}' already exists")));
        }
        let now = now_ms();
        let info = json!({"name": name, "full_name": name, "comment": comment, "owner": caller.user_name,
            "catalog_type": "MANAGED_CATALOG", "created_at": now, "created_by": caller.user_name, "updated_at": now,
            "metastore_id": "emulated-metastore", "isolation_mode": "OPEN", "properties": body.get("properties").cloned().unwrap_or(json!({}))});
        w.catalog.catalogs.insert(name, info.clone());
        Ok(Json(info))
    })
}

async fn get_catalog(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult {
    s.with(|w| w.catalog.catalogs.get(&name).cloned().map(Json).ok_or_else(|| not_found("Catalog", &name)))
}

async fn list_catalogs(State(s): State<AppState>, params: Params) -> ApiResult {
    let items: Vec<Value> = s.with(|w| w.catalog.catalogs.values().cloned().collect());
    listing(items, "catalogs", &params)
}

async fn update_catalog(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult {
    s.with(|w| {
        let info = w.catalog.catalogs.get_mut(&name).ok_or_else(|| not_found("Catalog", &name))?;
        for key in ["comment", "owner", "properties", "isolation_mode"] {
            if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
                info[key] = v.clone();
            }
        }
        info["updated_at"] = json!(now_ms());
        Ok(Json(info.clone()))
    })
}

async fn delete_catalog(State(s): State<AppState>, Path(name): Path<String>, params: Params) -> ApiResult {
    let force = params.bool("force")?.unwrap_or(false);
    s.with(|w| {
        w.catalog.catalogs.get(&name).ok_or_else(|| not_found("Catalog", &name))?;
        let prefix = format!("{name}.");
        let has_schemas =
            w.catalog.schemas.keys().any(|k| k.starts_with(&prefix) && !k.ends_with(".information_schema"));
        if has_schemas && !force {
            return Err(ApiError::invalid(format!(
                "Catalog '{name}' is not empty. Use force=true to delete it with its schemas."
            )));
        }
        w.catalog.schemas.retain(|k, _| !k.starts_with(&prefix));
        w.catalog.catalogs.remove(&name);
        Ok(())
    })?;
    empty()
}

async fn create_schema(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let name = required_str(&body, "name")?.to_string();
    let catalog = required_str(&body, "catalog_name")?.to_string();
    valid_name(&name)?;
    let comment = str_field(&body, "comment")?.map(str::to_string);
    s.with(|w| {
        w.catalog.catalogs.get(&catalog).ok_or_else(|| not_found("Catalog", &catalog))?;
        let full_name = format!("{catalog}.{name}");
        if w.catalog.schemas.contains_key(&full_name) {
            return Err(ApiError::new(409, "SCHEMA_ALREADY_EXISTS", format!("Schema '{full_name}' already exists")));
        }
        let now = now_ms();
        let info = json!({"name": name, "catalog_name": catalog, "full_name": full_name, "comment": comment,
            "owner": caller.user_name, "created_at": now, "created_by": caller.user_name, "updated_at": now,
            "metastore_id": "emulated-metastore", "catalog_type": "MANAGED_CATALOG"});
        w.catalog.schemas.insert(full_name, info.clone());
        Ok(Json(info))
    })
}

async fn get_schema(State(s): State<AppState>, Path(full_name): Path<String>) -> ApiResult {
    s.with(|w| w.catalog.schemas.get(&full_name).cloned().map(Json).ok_or_else(|| not_found("Schema", &full_name)))
}

async fn list_schemas(State(s): State<AppState>, params: Params) -> ApiResult {
    let catalog = params.required("catalog_name")?.to_string();
    let items = s.with(|w| {
        w.catalog.catalogs.get(&catalog).ok_or_else(|| not_found("Catalog", &catalog))?;
        Ok::<_, ApiError>(
            w.catalog.schemas.values().filter(|v| v["catalog_name"] == catalog.as_str()).cloned().collect::<Vec<_>>(),
        )
    })?;
    listing(items, "schemas", &params)
}

async fn delete_schema(State(s): State<AppState>, Path(full_name): Path<String>) -> ApiResult {
    s.with(|w| w.catalog.schemas.remove(&full_name).map(|_| ()).ok_or_else(|| not_found("Schema", &full_name)))?;
    empty()
}

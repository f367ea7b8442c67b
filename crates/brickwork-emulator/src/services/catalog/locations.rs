//! Storage credentials, external locations and the workspace's metastore.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::grants::may_manage;
use super::{
    already_exists, listed, not_found, record, render, resume_after, update_record, valid_name, Kind, METASTORE_ID,
};
use crate::api::{empty, ApiError, ApiResult, Body, Params};
use crate::state::{AppState, Caller, World};

const PREFIX: &str = "/api/2.1/unity-catalog";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/storage-credentials"), get(list_credentials).post(create_credential))
        .route(
            &format!("{PREFIX}/storage-credentials/{{name}}"),
            get(get_credential).patch(update_credential).delete(delete_credential),
        )
        .route(&format!("{PREFIX}/validate-storage-credentials"), post(validate_credential))
        .route(&format!("{PREFIX}/external-locations"), get(list_locations).post(create_location))
        .route(
            &format!("{PREFIX}/external-locations/{{name}}"),
            get(get_location).patch(update_location).delete(delete_location),
        )
        .route(&format!("{PREFIX}/current-metastore-assignment"), get(current_assignment))
        .route(&format!("{PREFIX}/metastore_summary"), get(summary))
        .route(&format!("{PREFIX}/metastores"), get(list_metastores))
        .route(&format!("{PREFIX}/metastores/{{id}}"), get(get_metastore))
}

fn admins_only(caller: &Caller, what: &str) -> ApiResult<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::permission_denied(format!("User does not have {what} on Metastore.")))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct CredentialRequest {
    name: String,
    comment: Option<String>,
    read_only: Option<bool>,
    aws_iam_role: Option<Value>,
    azure_managed_identity: Option<Value>,
    azure_service_principal: Option<Value>,
    databricks_gcp_service_account: Option<Value>,
    cloudflare_api_token: Option<Value>,
    skip_validation: Option<bool>,
}

/// The cloud identity a credential names: exactly one.
fn identity(r: &CredentialRequest) -> ApiResult<()> {
    let given = [
        &r.aws_iam_role,
        &r.azure_managed_identity,
        &r.azure_service_principal,
        &r.databricks_gcp_service_account,
        &r.cloudflare_api_token,
    ]
    .iter()
    .filter(|v| v.is_some())
    .count();
    if given != 1 {
        return Err(ApiError::invalid("A storage credential names exactly one cloud identity."));
    }
    Ok(())
}

fn credential_fields(w: &mut World, r: CredentialRequest) -> Map<String, Value> {
    let mut fields = match serde_json::to_value(CredentialRequest { name: String::new(), skip_validation: None, ..r }) {
        Ok(Value::Object(map)) => map.into_iter().filter(|(k, v)| !v.is_null() && k != "name").collect(),
        _ => Map::new(),
    };
    // The service answers the secret of an Azure service principal never.
    if let Some(Value::Object(sp)) = fields.get_mut("azure_service_principal") {
        sp.remove("client_secret");
    }
    if let Some(Value::Object(token)) = fields.get_mut("cloudflare_api_token") {
        token.remove("secret_access_key");
    }
    fields.insert("id".into(), json!(w.catalog.fresh_id()));
    fields
}

async fn create_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<CredentialRequest>,
) -> ApiResult {
    admins_only(&caller, "CREATE_STORAGE_CREDENTIAL")?;
    let name = valid_name(Kind::Credential, &r.name)?;
    identity(&r)?;
    s.with(|w| {
        if w.catalog.contains(Kind::Credential, &name) {
            return Err(already_exists(Kind::Credential, &name));
        }
        let fields = credential_fields(w, r);
        w.catalog.items.insert((Kind::Credential, name.clone()), record(&w.budget, &caller, fields)?);
        Ok(Json(found(w, Kind::Credential, &name)?))
    })
}

fn found(w: &World, kind: Kind, name: &str) -> ApiResult<Value> {
    let s = w.catalog.get(kind, name).ok_or_else(|| not_found(kind, name))?;
    Ok(render(kind, name, s))
}

/// The securable, if `caller` may see it (else a permission error).
fn visible(w: &World, caller: &Caller, kind: Kind, name: &str) -> ApiResult<Value> {
    let answer = found(w, kind, name)?;
    if !super::grants::sees(w, caller, kind, name) {
        return Err(ApiError::permission_denied(format!(
            "User does not have any privilege on {} '{name}'.",
            kind.title()
        )));
    }
    Ok(answer)
}

async fn get_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    s.with(|w| Ok(Json(visible(w, &caller, Kind::Credential, &name.to_lowercase())?)))
}

async fn list_credentials(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult {
    let after = resume_after(&params)?;
    s.with(|w| {
        let items = w
            .catalog
            .children(Kind::Credential, "", after.as_deref())
            .filter(|(n, _)| super::grants::sees(w, &caller, Kind::Credential, n));
        Ok(Json(listed(items, Kind::Credential, &params, "storage_credentials")?))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CredentialUpdate {
    comment: Option<String>,
    owner: Option<String>,
    read_only: Option<bool>,
    new_name: Option<String>,
    aws_iam_role: Option<Value>,
}

async fn update_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<CredentialUpdate>,
) -> ApiResult {
    let name = name.to_lowercase();
    if u.new_name.is_some() {
        return Err(ApiError::invalid("Storage credentials are renamed by making a new one."));
    }
    s.with(|w| {
        w.catalog.get(Kind::Credential, &name).ok_or_else(|| not_found(Kind::Credential, &name))?;
        may_manage(w, &caller, Kind::Credential, &name)?;
        let record = w
            .catalog
            .items
            .get_mut(&(Kind::Credential, name.clone()))
            .ok_or_else(|| not_found(Kind::Credential, &name))?;
        let changes = [
            ("comment", u.comment.map(Value::from)),
            ("read_only", u.read_only.map(Value::from)),
            ("aws_iam_role", u.aws_iam_role),
        ];
        update_record(record, &caller, changes, u.owner)?;
        Ok(Json(found(w, Kind::Credential, &name)?))
    })
}

async fn delete_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult {
    let name = name.to_lowercase();
    let force = params.bool("force")?.unwrap_or(false);
    s.with(|w| {
        w.catalog.get(Kind::Credential, &name).ok_or_else(|| not_found(Kind::Credential, &name))?;
        may_manage(w, &caller, Kind::Credential, &name)?;
        let used = w
            .catalog
            .children(Kind::Location, "", None)
            .any(|(_, l)| l.fields.get("credential_name") == Some(&json!(name)));
        if used && !force {
            return Err(ApiError::invalid(format!(
                "Storage Credential '{name}' has dependent External Locations. Use force to delete it anyway."
            )));
        }
        w.catalog.remove_tree(Kind::Credential, &name);
        Ok(())
    })?;
    empty()
}

/// The checks a credential would pass against a location: all of them,
/// since the emulator reaches no cloud.
async fn validate_credential(Body(body): Body<Value>) -> ApiResult {
    let url = body.get("url").and_then(Value::as_str).unwrap_or_default();
    let read_only = body.get("read_only").and_then(Value::as_bool).unwrap_or(false);
    let mut checks = vec!["READ", "LIST"];
    if !read_only {
        checks.extend(["WRITE", "DELETE"]);
    }
    let results: Vec<Value> =
        checks.iter().map(|op| json!({"operation": op, "result": "PASS", "message": format!("{op} {url}")})).collect();
    Ok(Json(json!({"isDir": true, "results": results})))
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct LocationRequest {
    name: String,
    url: String,
    credential_name: String,
    comment: Option<String>,
    read_only: Option<bool>,
    skip_validation: Option<bool>,
    fallback: Option<bool>,
}

/// A cloud URL as locations compare them: scheme and path, no trailing `/`.
fn normalized(url: &str) -> ApiResult<String> {
    let ok = ["s3://", "abfss://", "gs://", "r2://"].iter().any(|scheme| url.starts_with(scheme));
    if !ok || url.len() < 8 {
        return Err(ApiError::invalid(format!("Invalid URL for an external location: {url}")));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn overlaps(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
}

/// `Ok` when some external location covers `url` (an external volume's or
/// table's storage).
pub(super) fn covered(w: &World, url: &str) -> ApiResult<()> {
    let url = normalized(url)?;
    let inside = w.catalog.children(Kind::Location, "", None).any(|(_, l)| {
        l.fields
            .get("url")
            .and_then(Value::as_str)
            .is_some_and(|base| url == base || url.starts_with(&format!("{base}/")))
    });
    if inside {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("No external location covers {url}.")))
    }
}

async fn create_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<LocationRequest>,
) -> ApiResult {
    admins_only(&caller, "CREATE_EXTERNAL_LOCATION")?;
    let name = valid_name(Kind::Location, &r.name)?;
    let url = normalized(&r.url)?;
    s.with(|w| {
        if w.catalog.contains(Kind::Location, &name) {
            return Err(already_exists(Kind::Location, &name));
        }
        let credential = r.credential_name.to_lowercase();
        let credential_id = w
            .catalog
            .get(Kind::Credential, &credential)
            .ok_or_else(|| not_found(Kind::Credential, &credential))?
            .fields
            .get("id")
            .cloned();
        let clash = w
            .catalog
            .children(Kind::Location, "", None)
            .find(|(_, l)| l.fields.get("url").and_then(Value::as_str).is_some_and(|other| overlaps(&url, other)));
        if let Some((other, _)) = clash {
            return Err(ApiError::invalid(format!(
                "Input path url '{url}' overlaps with an existing external location '{other}'."
            )));
        }
        let mut fields = Map::new();
        fields.insert("url".into(), json!(url));
        fields.insert("credential_name".into(), json!(credential));
        fields.insert("credential_id".into(), credential_id.unwrap_or_default());
        fields.insert("read_only".into(), json!(r.read_only.unwrap_or(false)));
        if let Some(comment) = r.comment {
            fields.insert("comment".into(), json!(comment));
        }
        w.catalog.items.insert((Kind::Location, name.clone()), record(&w.budget, &caller, fields)?);
        Ok(Json(found(w, Kind::Location, &name)?))
    })
}

async fn get_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    s.with(|w| Ok(Json(visible(w, &caller, Kind::Location, &name.to_lowercase())?)))
}

async fn list_locations(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let after = resume_after(&params)?;
    s.with(|w| {
        let items = w
            .catalog
            .children(Kind::Location, "", after.as_deref())
            .filter(|(n, _)| super::grants::sees(w, &caller, Kind::Location, n));
        Ok(Json(listed(items, Kind::Location, &params, "external_locations")?))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LocationUpdate {
    comment: Option<String>,
    owner: Option<String>,
    read_only: Option<bool>,
    url: Option<String>,
    credential_name: Option<String>,
}

async fn update_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<LocationUpdate>,
) -> ApiResult {
    let name = name.to_lowercase();
    let url = u.url.as_deref().map(normalized).transpose()?;
    s.with(|w| {
        w.catalog.get(Kind::Location, &name).ok_or_else(|| not_found(Kind::Location, &name))?;
        may_manage(w, &caller, Kind::Location, &name)?;
        if let Some(credential) = &u.credential_name {
            w.catalog
                .get(Kind::Credential, &credential.to_lowercase())
                .ok_or_else(|| not_found(Kind::Credential, credential))?;
        }
        if let Some(url) = &url {
            let clash = w.catalog.children(Kind::Location, "", None).any(|(other, l)| {
                *other != name && l.fields.get("url").and_then(Value::as_str).is_some_and(|o| overlaps(url, o))
            });
            if clash {
                return Err(ApiError::invalid(format!(
                    "Input path url '{url}' overlaps with an existing external location."
                )));
            }
        }
        let record =
            w.catalog.items.get_mut(&(Kind::Location, name.clone())).ok_or_else(|| not_found(Kind::Location, &name))?;
        let changes = [
            ("comment", u.comment.map(Value::from)),
            ("read_only", u.read_only.map(Value::from)),
            ("url", url.map(Value::from)),
            ("credential_name", u.credential_name.map(|c| Value::from(c.to_lowercase()))),
        ];
        update_record(record, &caller, changes, u.owner)?;
        Ok(Json(found(w, Kind::Location, &name)?))
    })
}

async fn delete_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        w.catalog.get(Kind::Location, &name).ok_or_else(|| not_found(Kind::Location, &name))?;
        may_manage(w, &caller, Kind::Location, &name)?;
        w.catalog.remove_tree(Kind::Location, &name);
        Ok(())
    })?;
    empty()
}

fn metastore(w: &World) -> Value {
    json!({
        "metastore_id": METASTORE_ID, "name": "emulated-metastore", "owner": w.settings.user_name,
        "region": "us-east-1", "cloud": "aws", "storage_root": "s3://emulated-metastore",
        "privilege_model_version": "1.0", "delta_sharing_scope": "INTERNAL", "default_data_access_config_id": "",
        "global_metastore_id": format!("aws:us-east-1:{METASTORE_ID}"),
    })
}

async fn current_assignment(State(s): State<AppState>) -> ApiResult {
    let workspace_id = s.settings.workspace_id.parse::<i64>().unwrap_or_default();
    Ok(Json(json!({"workspace_id": workspace_id, "metastore_id": METASTORE_ID, "default_catalog_name": "main"})))
}

async fn summary(State(s): State<AppState>) -> ApiResult {
    s.with(|w| Ok(Json(metastore(w))))
}

async fn list_metastores(State(s): State<AppState>) -> ApiResult {
    s.with(|w| Ok(Json(json!({"metastores": [metastore(w)]}))))
}

async fn get_metastore(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    if id != METASTORE_ID {
        return Err(ApiError::new(404, "METASTORE_DOES_NOT_EXIST", format!("Metastore '{id}' does not exist.")));
    }
    s.with(|w| Ok(Json(metastore(w))))
}

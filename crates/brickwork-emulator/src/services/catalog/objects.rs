//! Catalogs, schemas, tables, volumes and functions.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::{delete, get, MethodRouter};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::grants::{may_manage, principals, require_owned, through};
use super::{
    already_exists, listed, not_found, record, render, resume_after, update_record, valid_name, Kind, Securable,
};
use crate::api::{empty, ApiError, ApiResult, Body, Params};
use crate::state::{AppState, Caller, World};

const PREFIX: &str = "/api/2.1/unity-catalog";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/catalogs"), get(list_catalogs).post(create_catalog))
        .route(&format!("{PREFIX}/catalogs/{{name}}"), get(get_catalog).patch(update_catalog).delete(delete_catalog))
        .route(&format!("{PREFIX}/schemas"), get(list_schemas).post(create_schema))
        .route(&format!("{PREFIX}/schemas/{{name}}"), get(get_schema).patch(update_schema).delete(delete_schema))
        .route(&format!("{PREFIX}/tables"), list_objects(TABLES).post(create_table))
        .route(
            &format!("{PREFIX}/tables/{{name}}"),
            get_object(TABLES).merge(delete_object(TABLES)).patch(update_table),
        )
        .route(&format!("{PREFIX}/tables/{{name}}/exists"), get(table_exists))
        .route(&format!("{PREFIX}/table-summaries"), get(table_summaries))
        .route(&format!("{PREFIX}/volumes"), list_objects(VOLUMES).post(create_volume))
        .route(
            &format!("{PREFIX}/volumes/{{name}}"),
            get_object(VOLUMES).merge(delete_object(VOLUMES)).patch(update_volume),
        )
        .route(&format!("{PREFIX}/functions"), list_objects(FUNCTIONS).post(create_function))
        .route(
            &format!("{PREFIX}/functions/{{name}}"),
            get_object(FUNCTIONS).merge(delete_object(FUNCTIONS)).patch(update_function),
        )
}

/// Fields as JSON, without the ones not given.
fn fields_of(value: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// What a catalog the API makes (or the workspace starts with) holds.
pub(super) fn catalog_fields(comment: Option<String>) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("catalog_type".into(), json!("MANAGED_CATALOG"));
    fields.insert("isolation_mode".into(), json!("OPEN"));
    fields.insert("securable_type".into(), json!("CATALOG"));
    if let Some(comment) = comment {
        fields.insert("comment".into(), json!(comment));
    }
    fields
}

/// A managed volume's own fields.
pub(super) fn managed_volume_fields(full_name: &str, id: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("volume_type".into(), json!("MANAGED"));
    fields.insert("volume_id".into(), json!(id));
    fields.insert(
        "storage_location".into(),
        json!(format!("s3://emulated-metastore/{}/volumes/{id}", full_name.replace('.', "/"))),
    );
    fields
}

fn find<'a>(w: &'a World, kind: Kind, name: &str) -> ApiResult<&'a super::Securable> {
    w.catalog.get(kind, name).ok_or_else(|| not_found(kind, name))
}

// ---- catalogs ----

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct CatalogRequest {
    name: String,
    comment: Option<String>,
    properties: Option<BTreeMap<String, String>>,
    storage_root: Option<String>,
    options: Option<BTreeMap<String, String>>,
    connection_name: Option<String>,
    provider_name: Option<String>,
    share_name: Option<String>,
}

async fn create_catalog(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<CatalogRequest>,
) -> ApiResult {
    let name = valid_name(Kind::Catalog, &r.name)?;
    if !caller.admin {
        return Err(ApiError::permission_denied("User does not have CREATE_CATALOG on Metastore."));
    }
    s.with(|w| {
        if w.catalog.contains(Kind::Catalog, &name) {
            return Err(already_exists(Kind::Catalog, &name));
        }
        let mut fields = catalog_fields(r.comment.clone());
        let given = fields_of(&CatalogRequest { name: String::new(), comment: None, ..r });
        fields.extend(given.into_iter().filter(|(k, _)| k != "name"));
        // All three counted before any is stored: a refusal leaves no half catalog.
        let made = [
            ((Kind::Catalog, name.clone()), record(&w.budget, &caller, fields)?),
            ((Kind::Schema, format!("{name}.information_schema")), record(&w.budget, &caller, Map::new())?),
            ((Kind::Schema, format!("{name}.default")), record(&w.budget, &caller, Map::new())?),
        ];
        w.catalog.items.extend(made);
        w.catalog.refile_catalog(&name);
        Ok(Json(render(Kind::Catalog, &name, find(w, Kind::Catalog, &name)?)))
    })
}

async fn get_catalog(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        let found = find(w, Kind::Catalog, &name)?;
        require_owned(w, &caller, &[(Kind::Catalog, name.clone(), "USE_CATALOG")])?;
        Ok(Json(render(Kind::Catalog, &name, found)))
    })
}

async fn list_catalogs(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let after = resume_after(&params)?;
    s.with(|w| {
        // An admin sees every catalog; anyone else, those held by them or their groups.
        let candidates: Box<dyn Iterator<Item = (&String, &Securable)>> = if caller.admin {
            Box::new(w.catalog.children(Kind::Catalog, "", after.as_deref()))
        } else {
            Box::new(w.catalog.catalogs_held_by(&principals(w, &caller), after.as_deref()))
        };
        let visible = candidates.filter(|(n, _)| super::allows(w, &caller, Kind::Catalog, n, "USE_CATALOG"));
        Ok(Json(listed(visible, Kind::Catalog, &params, "catalogs")?))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateRequest {
    comment: Option<String>,
    new_name: Option<String>,
    owner: Option<String>,
    properties: Option<BTreeMap<String, String>>,
    isolation_mode: Option<String>,
    enable_predictive_optimization: Option<String>,
}

/// Apply an update: fields changed, owner moved, and a rename carried to
/// what the securable holds and the grants on it all.
fn apply_update(w: &mut World, caller: &Caller, kind: Kind, name: &str, u: UpdateRequest) -> ApiResult<String> {
    find(w, kind, name)?;
    may_manage(w, caller, kind, name)?;
    let renamed = match &u.new_name {
        Some(new) if !new.is_empty() => {
            let short = valid_name(kind, new)?;
            let full = match name.rsplit_once('.') {
                Some((parent, _)) => format!("{parent}.{short}"),
                None => short,
            };
            if full != name && w.catalog.contains(kind, &full) {
                return Err(already_exists(kind, &full));
            }
            Some(full)
        }
        _ => None,
    };
    let record = w.catalog.items.get_mut(&(kind, name.to_string())).ok_or_else(|| not_found(kind, name))?;
    let changes = [
        ("comment", u.comment.map(Value::from)),
        ("properties", u.properties.map(|p| json!(p))),
        ("isolation_mode", u.isolation_mode.map(Value::from)),
        ("enable_predictive_optimization", u.enable_predictive_optimization.map(Value::from)),
    ];
    update_record(record, caller, changes, u.owner)?;
    let Some(new) = renamed else {
        if kind == Kind::Catalog {
            w.catalog.refile_catalog(name);
        }
        return Ok(name.to_string());
    };
    for (k, old) in w.catalog.tree(kind, name) {
        let renamed_to = format!("{new}{}", &old[name.len()..]);
        if let Some(item) = w.catalog.items.remove(&(k, old.clone())) {
            w.catalog.items.insert((k, renamed_to.clone()), item);
        }
        if let Some(grants) = w.catalog.grants.remove(&(k, old)) {
            w.catalog.grants.insert((k, renamed_to), grants);
        }
    }
    if kind == Kind::Catalog {
        w.catalog.refile_catalog(name);
        w.catalog.refile_catalog(&new);
    }
    // The files of the volumes it holds (or is) move with it.
    if new != name && matches!(kind, Kind::Catalog | Kind::Schema | Kind::Volume) {
        let path = |full: &str| format!("/Volumes/{}", full.replace('.', "/"));
        w.emit(crate::services::Event::VolumeRenamed { from: path(name), to: path(&new) });
    }
    Ok(new)
}

async fn update_catalog(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<UpdateRequest>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        let name = apply_update(w, &caller, Kind::Catalog, &name, u)?;
        Ok(Json(render(Kind::Catalog, &name, find(w, Kind::Catalog, &name)?)))
    })
}

/// What a catalog or schema holds beside its own `information_schema` and
/// an empty `default`.
fn holds_anything(w: &World, kind: Kind, name: &str) -> bool {
    match kind {
        Kind::Catalog => w.catalog.children(Kind::Schema, name, None).any(|(schema, _)| {
            let short = schema.rsplit('.').next().unwrap_or_default();
            short != "information_schema" && (short != "default" || holds_anything(w, Kind::Schema, schema))
        }),
        _ => [Kind::Table, Kind::Volume, Kind::Function]
            .iter()
            .any(|k| w.catalog.children(*k, name, None).next().is_some()),
    }
}

/// Drop a catalog or schema (with `force`, what it holds too), and the
/// files of its volumes.
fn drop_container(w: &mut World, caller: &Caller, kind: Kind, name: &str, force: bool) -> ApiResult<()> {
    find(w, kind, name)?;
    may_manage(w, caller, kind, name)?;
    if kind == Kind::Schema && name.ends_with(".information_schema") {
        return Err(ApiError::invalid("The information_schema schema cannot be deleted."));
    }
    if !force && holds_anything(w, kind, name) {
        let code = if kind == Kind::Catalog { "CATALOG_NOT_EMPTY" } else { "SCHEMA_NOT_EMPTY" };
        return Err(ApiError::new(
            400,
            code,
            format!("{} '{name}' is not empty. Use force to delete it with everything in it.", kind.title()),
        ));
    }
    for (k, gone) in w.catalog.remove_tree(kind, name) {
        if k == Kind::Volume {
            w.emit(crate::services::Event::VolumeDeleted { path: format!("/Volumes/{}", gone.replace('.', "/")) });
        }
    }
    Ok(())
}

async fn delete_catalog(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult {
    let force = params.bool("force")?.unwrap_or(false);
    s.with(|w| drop_container(w, &caller, Kind::Catalog, &name.to_lowercase(), force))?;
    empty()
}

// ---- schemas ----

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct SchemaRequest {
    name: String,
    catalog_name: String,
    comment: Option<String>,
    properties: Option<BTreeMap<String, String>>,
    storage_root: Option<String>,
}

async fn create_schema(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<SchemaRequest>,
) -> ApiResult {
    let name = valid_name(Kind::Schema, &r.name)?;
    let catalog = r.catalog_name.to_lowercase();
    s.with(|w| {
        find(w, Kind::Catalog, &catalog)?;
        require_owned(
            w,
            &caller,
            &[(Kind::Catalog, catalog.clone(), "USE_CATALOG"), (Kind::Catalog, catalog.clone(), "CREATE_SCHEMA")],
        )?;
        let full = format!("{catalog}.{name}");
        if w.catalog.contains(Kind::Schema, &full) {
            return Err(already_exists(Kind::Schema, &full));
        }
        let mut fields = fields_of(&SchemaRequest { name: String::new(), catalog_name: String::new(), ..r });
        fields.retain(|k, _| k != "name" && k != "catalog_name");
        fields.insert("schema_id".into(), json!(w.catalog.fresh_id()));
        fields.insert("catalog_type".into(), json!("MANAGED_CATALOG"));
        w.catalog.items.insert((Kind::Schema, full.clone()), record(&w.budget, &caller, fields)?);
        Ok(Json(render(Kind::Schema, &full, find(w, Kind::Schema, &full)?)))
    })
}

fn schema_access(w: &World, caller: &Caller, full: &str) -> ApiResult<()> {
    let catalog = full.split('.').next().unwrap_or_default();
    require_owned(w, caller, &through(catalog, full))
}

async fn get_schema(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        let found = find(w, Kind::Schema, &name)?;
        schema_access(w, &caller, &name)?;
        Ok(Json(render(Kind::Schema, &name, found)))
    })
}

async fn list_schemas(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let catalog = params.required("catalog_name")?.to_lowercase();
    let after = resume_after(&params)?;
    s.with(|w| {
        find(w, Kind::Catalog, &catalog)?;
        require_owned(w, &caller, &[(Kind::Catalog, catalog.clone(), "USE_CATALOG")])?;
        let visible = w
            .catalog
            .children(Kind::Schema, &catalog, after.as_deref())
            .filter(|(n, _)| super::allows(w, &caller, Kind::Schema, n, "USE_SCHEMA"));
        Ok(Json(listed(visible, Kind::Schema, &params, "schemas")?))
    })
}

async fn update_schema(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<UpdateRequest>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        let name = apply_update(w, &caller, Kind::Schema, &name, u)?;
        Ok(Json(render(Kind::Schema, &name, find(w, Kind::Schema, &name)?)))
    })
}

async fn delete_schema(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult {
    let force = params.bool("force")?.unwrap_or(false);
    s.with(|w| drop_container(w, &caller, Kind::Schema, &name.to_lowercase(), force))?;
    empty()
}

// ---- tables, volumes and functions: objects in a schema ----

/// Check that a new object's schema is there, that the caller may create
/// it (`USE_CATALOG`, `USE_SCHEMA`, `privilege`), and that its name is free.
fn new_in_schema(
    w: &World,
    caller: &Caller,
    kind: Kind,
    catalog: &str,
    schema: &str,
    name: &str,
    privilege: &str,
) -> ApiResult<String> {
    let name = valid_name(kind, name)?;
    let (catalog, schema) = (catalog.to_lowercase(), schema.to_lowercase());
    let schema_full = format!("{catalog}.{schema}");
    find(w, Kind::Catalog, &catalog)?;
    find(w, Kind::Schema, &schema_full)?;
    let mut needs = through(&catalog, &schema_full).to_vec();
    needs.push((Kind::Schema, schema_full.clone(), privilege));
    require_owned(w, caller, &needs)?;
    let full = format!("{schema_full}.{name}");
    if w.catalog.contains(kind, &full) {
        return Err(already_exists(kind, &full));
    }
    Ok(full)
}

/// Reading an object in a schema: the way there, then `privilege` on it.
fn object_access(w: &World, caller: &Caller, kind: Kind, full: &str, privilege: &str) -> ApiResult<()> {
    let parts: Vec<&str> = full.split('.').collect();
    let schema = parts.get(..2).map(|p| p.join(".")).unwrap_or_default();
    let mut needs = through(parts[0], &schema).to_vec();
    needs.push((kind, full.to_string(), privilege));
    require_owned(w, caller, &needs)
}

/// A listing of objects of `kind` in `catalog_name`.`schema_name`.
fn list_in_schema(w: &World, caller: &Caller, of: InSchema, params: &Params) -> ApiResult<Value> {
    let catalog = params.required("catalog_name")?.to_lowercase();
    let schema = format!("{catalog}.{}", params.required("schema_name")?.to_lowercase());
    find(w, Kind::Catalog, &catalog)?;
    find(w, Kind::Schema, &schema)?;
    require_owned(w, caller, &through(&catalog, &schema))?;
    let after = resume_after(params)?;
    let visible = w
        .catalog
        .children(of.kind, &schema, after.as_deref())
        .filter(|(n, _)| super::allows(w, caller, of.kind, n, of.read));
    listed(visible, of.kind, params, of.plural)
}

/// What differs between the kinds of object a schema holds.
#[derive(Debug, Clone, Copy)]
struct InSchema {
    kind: Kind,
    /// The key of its listing.
    plural: &'static str,
    /// The privilege that reads one.
    read: &'static str,
}

const TABLES: InSchema = InSchema { kind: Kind::Table, plural: "tables", read: "SELECT" };
const VOLUMES: InSchema = InSchema { kind: Kind::Volume, plural: "volumes", read: "READ_VOLUME" };
const FUNCTIONS: InSchema = InSchema { kind: Kind::Function, plural: "functions", read: "EXECUTE" };

/// `GET` of the objects of one schema the caller may read.
fn list_objects(of: InSchema) -> MethodRouter<AppState> {
    get(move |State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params| async move {
        s.with(|w| Ok::<_, ApiError>(Json(list_in_schema(w, &caller, of, &params)?)))
    })
}

/// `GET` of one object, for those who may read it.
fn get_object(of: InSchema) -> MethodRouter<AppState> {
    get(move |State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(name): Path<String>| async move {
        let name = name.to_lowercase();
        s.with(|w| {
            let found = find(w, of.kind, &name)?;
            object_access(w, &caller, of.kind, &name, of.read)?;
            Ok::<_, ApiError>(Json(render(of.kind, &name, found)))
        })
    })
}

/// `DELETE` of one object by those who manage it; a volume's files go with it.
fn delete_object(of: InSchema) -> MethodRouter<AppState> {
    delete(
        move |State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(name): Path<String>| async move {
            let name = name.to_lowercase();
            s.with(|w| {
                find(w, of.kind, &name)?;
                may_manage(w, &caller, of.kind, &name)?;
                w.catalog.remove_tree(of.kind, &name);
                if of.kind == Kind::Volume {
                    w.emit(crate::services::Event::VolumeDeleted {
                        path: format!("/Volumes/{}", name.replace('.', "/")),
                    });
                }
                Ok::<_, ApiError>(())
            })?;
            empty()
        },
    )
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct TableRequest {
    name: String,
    catalog_name: String,
    schema_name: String,
    table_type: Option<String>,
    data_source_format: Option<String>,
    storage_location: Option<String>,
    columns: Option<Vec<Value>>,
    properties: Option<BTreeMap<String, String>>,
    comment: Option<String>,
}

async fn create_table(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<TableRequest>,
) -> ApiResult {
    let table_type = r.table_type.clone().unwrap_or_else(|| "MANAGED".into());
    if !["MANAGED", "EXTERNAL", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE"].contains(&table_type.as_str()) {
        return Err(ApiError::invalid(format!("Invalid table_type: {table_type}")));
    }
    if table_type == "EXTERNAL" && r.storage_location.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::invalid("An EXTERNAL table needs a storage_location."));
    }
    s.with(|w| {
        let full = new_in_schema(w, &caller, Kind::Table, &r.catalog_name, &r.schema_name, &r.name, "CREATE_TABLE")?;
        let id = w.catalog.fresh_id();
        let mut fields = fields_of(&TableRequest {
            name: String::new(),
            catalog_name: String::new(),
            schema_name: String::new(),
            ..r
        });
        fields.retain(|k, _| !["name", "catalog_name", "schema_name"].contains(&k.as_str()));
        fields.insert("table_type".into(), json!(table_type));
        fields.entry("data_source_format").or_insert_with(|| json!("DELTA"));
        fields.entry("storage_location").or_insert_with(|| json!(format!("s3://emulated-metastore/tables/{id}")));
        fields.insert("table_id".into(), json!(id));
        w.catalog.items.insert((Kind::Table, full.clone()), record(&w.budget, &caller, fields)?);
        Ok(Json(render(Kind::Table, &full, find(w, Kind::Table, &full)?)))
    })
}

async fn table_exists(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        let exists = w.catalog.contains(Kind::Table, &name);
        if exists {
            object_access(w, &caller, Kind::Table, &name, "SELECT")?;
        }
        Ok(Json(json!({"table_exists": exists})))
    })
}

/// Summaries of the tables of a catalog, across its schemas, a page at a
/// time from the cursor (the catalog's tables, not every securable).
async fn table_summaries(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let catalog = params.required("catalog_name")?.to_lowercase();
    let after = resume_after(&params)?;
    s.with(|w| {
        find(w, Kind::Catalog, &catalog)?;
        require_owned(w, &caller, &[(Kind::Catalog, catalog.clone(), "USE_CATALOG")])?;
        let visible = w
            .catalog
            .children(Kind::Table, &catalog, after.as_deref())
            .filter(|(n, _)| super::allows(w, &caller, Kind::Table, n, "SELECT"));
        let show = |n: &String, s: &super::Securable| json!({"full_name": n, "table_type": s.fields.get("table_type")});
        Ok(Json(super::listed_as(visible, &params, "tables", show)?))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OwnerRequest {
    owner: Option<String>,
}

async fn update_table(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<OwnerRequest>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| apply_update(w, &caller, Kind::Table, &name, UpdateRequest { owner: u.owner, ..Default::default() }))?;
    empty()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct VolumeRequest {
    name: String,
    catalog_name: String,
    schema_name: String,
    volume_type: Option<String>,
    comment: Option<String>,
    storage_location: Option<String>,
}

async fn create_volume(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<VolumeRequest>,
) -> ApiResult {
    let volume_type = r.volume_type.clone().unwrap_or_default();
    let external = match volume_type.as_str() {
        "MANAGED" => false,
        "EXTERNAL" => true,
        other => {
            return Err(ApiError::invalid(format!("Invalid volume_type: {other:?}. Expected MANAGED or EXTERNAL.")))
        }
    };
    match (external, r.storage_location.as_deref().filter(|l| !l.is_empty())) {
        (true, None) => return Err(ApiError::invalid("An EXTERNAL volume needs a storage_location.")),
        (false, Some(_)) => return Err(ApiError::invalid("A MANAGED volume cannot have a storage_location.")),
        _ => {}
    }
    s.with(|w| {
        let full = new_in_schema(w, &caller, Kind::Volume, &r.catalog_name, &r.schema_name, &r.name, "CREATE_VOLUME")?;
        let id = w.catalog.fresh_id();
        let mut fields = managed_volume_fields(&full, &id);
        if let Some(location) = r.storage_location.clone().filter(|_| external) {
            super::locations::covered(w, &location)?;
            fields.insert("storage_location".into(), json!(location));
            fields.insert("volume_type".into(), json!("EXTERNAL"));
        }
        if let Some(comment) = &r.comment {
            fields.insert("comment".into(), json!(comment));
        }
        w.catalog.items.insert((Kind::Volume, full.clone()), record(&w.budget, &caller, fields)?);
        Ok(Json(render(Kind::Volume, &full, find(w, Kind::Volume, &full)?)))
    })
}

async fn update_volume(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<UpdateRequest>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        let renamed = apply_update(w, &caller, Kind::Volume, &name, u)?;
        Ok(Json(render(Kind::Volume, &renamed, find(w, Kind::Volume, &renamed)?)))
    })
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct FunctionInfoRequest {
    name: String,
    catalog_name: String,
    schema_name: String,
    input_params: Option<Value>,
    return_params: Option<Value>,
    data_type: Option<String>,
    full_data_type: Option<String>,
    routine_body: Option<String>,
    routine_definition: Option<String>,
    routine_dependencies: Option<Value>,
    parameter_style: Option<String>,
    is_deterministic: Option<bool>,
    sql_data_access: Option<String>,
    is_null_call: Option<bool>,
    security_type: Option<String>,
    specific_name: Option<String>,
    external_language: Option<String>,
    external_name: Option<String>,
    sql_path: Option<String>,
    comment: Option<String>,
    properties: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FunctionRequest {
    function_info: FunctionInfoRequest,
}

async fn create_function(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<FunctionRequest>,
) -> ApiResult {
    let info = r.function_info;
    if info.routine_body.as_deref().is_some_and(|b| b != "SQL" && b != "EXTERNAL") {
        return Err(ApiError::invalid("routine_body must be SQL or EXTERNAL."));
    }
    s.with(|w| {
        let full = new_in_schema(
            w,
            &caller,
            Kind::Function,
            &info.catalog_name,
            &info.schema_name,
            &info.name,
            "CREATE_FUNCTION",
        )?;
        let mut fields = fields_of(&FunctionInfoRequest {
            name: String::new(),
            catalog_name: String::new(),
            schema_name: String::new(),
            ..info
        });
        fields.retain(|k, _| !["name", "catalog_name", "schema_name"].contains(&k.as_str()));
        fields.insert("function_id".into(), json!(w.catalog.fresh_id()));
        w.catalog.items.insert((Kind::Function, full.clone()), record(&w.budget, &caller, fields)?);
        Ok(Json(render(Kind::Function, &full, find(w, Kind::Function, &full)?)))
    })
}

async fn update_function(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(u): Body<OwnerRequest>,
) -> ApiResult {
    let name = name.to_lowercase();
    s.with(|w| {
        apply_update(w, &caller, Kind::Function, &name, UpdateRequest { owner: u.owner, ..Default::default() })?;
        Ok(Json(render(Kind::Function, &name, find(w, Kind::Function, &name)?)))
    })
}

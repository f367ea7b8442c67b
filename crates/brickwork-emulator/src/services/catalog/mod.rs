//! Unity Catalog (`/api/2.1/unity-catalog/*`): catalogs, schemas, tables,
//! volumes and functions; storage credentials and external locations;
//! grants and effective privileges; the metastore the workspace is
//! assigned to. Every securable has an owner; privileges granted on a
//! catalog or schema reach what it holds. Workspace admins stand for the
//! metastore admins and hold everything; others need the privileges Unity
//! Catalog asks for (`USE_CATALOG` and `USE_SCHEMA` on the way, then
//! `CREATE_*`, `SELECT`, `READ_VOLUME`, ...), as owners have them.
//!
//! The workspace starts with catalog `main` (schemas `default` and
//! `information_schema`) and the volumes its settings name. Files API
//! paths under `/Volumes` must name an existing volume.

mod grants;
mod locations;
mod objects;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Router;
use serde_json::{json, Map, Value};

use crate::api::{page_body, ApiError, ApiResult, Params};
use crate::index;
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{Budget, Held, StorageFull};
use std::sync::Arc;

pub use grants::{allows, check_volume_path};

/// The metastore the emulated workspace is assigned to.
pub const METASTORE_ID: &str = "11111111-2222-3333-4444-555555555555";

/// The kinds of securable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Catalog,
    Schema,
    Table,
    Volume,
    Function,
    Credential,
    Location,
}

impl Kind {
    /// As the grants API names it.
    fn wire(self) -> &'static str {
        match self {
            Kind::Catalog => "catalog",
            Kind::Schema => "schema",
            Kind::Table => "table",
            Kind::Volume => "volume",
            Kind::Function => "function",
            Kind::Credential => "storage_credential",
            Kind::Location => "external_location",
        }
    }

    /// As error messages name it.
    fn title(self) -> &'static str {
        match self {
            Kind::Catalog => "Catalog",
            Kind::Schema => "Schema",
            Kind::Table => "Table",
            Kind::Volume => "Volume",
            Kind::Function => "Function",
            Kind::Credential => "Storage Credential",
            Kind::Location => "External Location",
        }
    }

    /// Dot-separated parts of a full name (catalog 1 ... table 3).
    fn depth(self) -> usize {
        match self {
            Kind::Catalog | Kind::Credential | Kind::Location => 1,
            Kind::Schema => 2,
            Kind::Table | Kind::Volume | Kind::Function => 3,
        }
    }

    fn from_wire(raw: &str) -> ApiResult<Kind> {
        Ok(match raw.to_ascii_lowercase().as_str() {
            "catalog" => Kind::Catalog,
            "schema" => Kind::Schema,
            "table" => Kind::Table,
            "volume" => Kind::Volume,
            "function" => Kind::Function,
            "storage_credential" => Kind::Credential,
            "external_location" => Kind::Location,
            other => return Err(ApiError::invalid(format!("Invalid securable type: {other}"))),
        })
    }
}

/// One securable: who made and owns it, and its own fields.
#[derive(Debug)]
pub struct Securable {
    pub owner: String,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    updated_by: String,
    /// The kind's own fields, from a typed request (unknown ones dropped).
    pub fields: Map<String, Value>,
    /// The fields' count against the storage budget.
    held: Held,
}

/// Every securable by kind and full name, and the grants on them.
#[derive(Debug, Default)]
pub struct Catalog {
    items: BTreeMap<(Kind, String), Securable>,
    /// Privileges by securable and principal.
    grants: HashMap<(Kind, String), BTreeMap<String, BTreeSet<String>>>,
    /// Catalogs by the principals that own one or hold a grant on it: a
    /// non-admin's catalog list reads these, not every catalog.
    catalogs_of: HashMap<String, BTreeSet<String>>,
    /// The same, catalog to principals: what a catalog's change files anew.
    holders_of: HashMap<String, BTreeSet<String>>,
    next_id: u64,
}

impl Catalog {
    /// The workspace's starting point: catalog `main` with its two schemas,
    /// and the volumes named (`catalog.schema.volume`, made with their parents).
    pub fn seeded(owner: &str, volumes: &[String], budget: &Arc<Budget>) -> Catalog {
        let mut catalog = Catalog::default();
        let now = now_ms();
        let make = |catalog: &mut Catalog, kind: Kind, name: &str, fields: Map<String, Value>| {
            catalog.items.entry((kind, name.to_string())).or_insert_with(|| Securable {
                owner: owner.to_string(),
                created_at: now,
                created_by: owner.to_string(),
                updated_at: now,
                updated_by: owner.to_string(),
                fields,
                // The starting point is the emulator's, not a client's.
                held: budget.hold(),
            });
        };
        let mut names = vec!["main.default".to_string()];
        // Names are case insensitive: stored lower case, as the API stores them.
        names.extend(volumes.iter().map(|v| v.to_lowercase()));
        for full in names {
            let parts: Vec<&str> = full.split('.').collect();
            if let Some(cat) = parts.first() {
                make(&mut catalog, Kind::Catalog, cat, objects::catalog_fields(None));
                catalog.refile_catalog(cat);
                make(&mut catalog, Kind::Schema, &format!("{cat}.information_schema"), Map::new());
            }
            if parts.len() >= 2 {
                make(&mut catalog, Kind::Schema, &parts[..2].join("."), Map::new());
            }
            if parts.len() == 3 {
                let id = catalog.fresh_id();
                make(&mut catalog, Kind::Volume, &full, objects::managed_volume_fields(&full, &id));
            }
        }
        catalog
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        let n = self.next_id;
        format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", 0x5eed_0000 + n, n & 0xffff, n & 0xfff, n & 0xfff, n)
    }

    fn get(&self, kind: Kind, name: &str) -> Option<&Securable> {
        self.items.get(&(kind, name.to_string()))
    }

    fn contains(&self, kind: Kind, name: &str) -> bool {
        self.items.contains_key(&(kind, name.to_string()))
    }

    /// The securables of `kind` directly in `parent` (`""` for top-level
    /// ones), from `after` on, in name order.
    fn children<'a>(
        &'a self,
        kind: Kind,
        parent: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a String, &'a Securable)> + 'a {
        let prefix = if parent.is_empty() { String::new() } else { format!("{parent}.") };
        let start = match after {
            Some(after) => std::ops::Bound::Excluded((kind, after.to_string())),
            None => std::ops::Bound::Included((kind, prefix.clone())),
        };
        self.items
            .range((start, std::ops::Bound::Unbounded))
            .take_while(move |((k, name), _)| *k == kind && name.starts_with(&prefix))
            .filter(move |((_, name), _)| name.split('.').count() == kind.depth())
            .map(|((_, name), record)| (name, record))
    }

    /// Remove a securable, what it holds and the grants on all of it.
    /// `name` and what it holds (a catalog's schemas and their objects, a
    /// schema's objects), read from the index kind by kind.
    fn tree(&self, kind: Kind, name: &str) -> Vec<(Kind, String)> {
        let prefix = format!("{name}.");
        let mut keys: Vec<(Kind, String)> = Vec::new();
        if self.contains(kind, name) {
            keys.push((kind, name.to_string()));
        }
        for held in [Kind::Schema, Kind::Table, Kind::Volume, Kind::Function] {
            if held.depth() <= kind.depth() {
                continue;
            }
            let below = self
                .items
                .range((held, prefix.clone())..)
                .take_while(|((k, n), _)| *k == held && n.starts_with(&prefix))
                .map(|(key, _)| key.clone());
            keys.extend(below);
        }
        keys
    }

    fn remove_tree(&mut self, kind: Kind, name: &str) -> Vec<(Kind, String)> {
        let gone = self.tree(kind, name);
        for key in &gone {
            self.items.remove(key);
            self.grants.remove(key);
        }
        if kind == Kind::Catalog {
            self.refile_catalog(name);
        }
        gone
    }

    /// File catalog `name` anew under its owner and grantees, after any
    /// change to them (or to the catalog: made, renamed, dropped).
    fn refile_catalog(&mut self, name: &str) {
        let name = name.to_string();
        for principal in self.holders_of.remove(&name).unwrap_or_default() {
            index::unfile(&mut self.catalogs_of, &principal, &name);
        }
        let key = (Kind::Catalog, name.clone());
        let Some(owner) = self.items.get(&key).map(|s| s.owner.clone()) else { return };
        let mut holders: BTreeSet<String> = self.grants.get(&key).into_iter().flat_map(|g| g.keys().cloned()).collect();
        holders.insert(owner);
        for principal in &holders {
            index::file(&mut self.catalogs_of, principal.clone(), name.clone());
        }
        self.holders_of.insert(name, holders);
    }

    /// The catalogs any of `who` owns or holds a grant on, in name order,
    /// after `after`: merged from their index entries as they are read.
    fn catalogs_held_by<'a>(
        &'a self,
        who: &[String],
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a String, &'a Securable)> + 'a {
        use std::ops::Bound::{Excluded, Unbounded};
        let from = after.map_or(Unbounded, |a| Excluded(a.to_string()));
        let sources: Vec<_> = who
            .iter()
            .filter_map(|p| self.catalogs_of.get(p))
            .map(|names| names.range::<String, _>((from.clone(), Unbounded)))
            .collect();
        index::union(sources)
            .filter_map(move |name| self.items.get_key_value(&(Kind::Catalog, name.clone())).map(|((_, n), s)| (n, s)))
    }
}

/// The Unity Catalog service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "unity-catalog"
    }

    fn routes(&self) -> Router<AppState> {
        objects::routes().merge(locations::routes()).merge(grants::routes())
    }
}

/// `name` as Unity Catalog takes it: lower case, with none of the
/// characters names cannot hold.
fn valid_name(kind: Kind, name: &str) -> ApiResult<String> {
    if name.is_empty() || name.len() > 255 || name.contains(['.', ' ', '/']) || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "Invalid input: {} name \"{name}\" is not a valid name. Valid names cannot contain spaces, periods, forward slashes, or control characters.",
            kind.wire()
        )));
    }
    Ok(name.to_lowercase())
}

fn not_found(kind: Kind, name: &str) -> ApiError {
    let code = match kind {
        Kind::Catalog => "CATALOG_DOES_NOT_EXIST",
        Kind::Schema => "SCHEMA_DOES_NOT_EXIST",
        Kind::Table => "TABLE_DOES_NOT_EXIST",
        Kind::Function => "FUNCTION_DOES_NOT_EXIST",
        Kind::Credential => "STORAGE_CREDENTIAL_DOES_NOT_EXIST",
        Kind::Location => "EXTERNAL_LOCATION_DOES_NOT_EXIST",
        Kind::Volume => "NOT_FOUND",
    };
    ApiError::new(404, code, format!("{} '{name}' does not exist.", kind.title()))
}

fn already_exists(kind: Kind, name: &str) -> ApiError {
    let code = match kind {
        Kind::Catalog => "CATALOG_ALREADY_EXISTS",
        Kind::Schema => "SCHEMA_ALREADY_EXISTS",
        Kind::Table => "TABLE_ALREADY_EXISTS",
        _ => "RESOURCE_ALREADY_EXISTS",
    };
    ApiError::new(409, code, format!("{} '{name}' already exists", kind.title()))
}

/// The record as answered: the common fields, then the kind's own.
fn render(kind: Kind, name: &str, s: &Securable) -> Value {
    let mut out = s.fields.clone();
    let short = name.rsplit('.').next().unwrap_or(name);
    out.insert("name".into(), json!(short));
    out.insert("full_name".into(), json!(name));
    let parts: Vec<&str> = name.split('.').collect();
    if kind.depth() >= 2 {
        out.insert("catalog_name".into(), json!(parts[0]));
    }
    if kind.depth() == 3 {
        out.insert("schema_name".into(), json!(parts[1]));
    }
    for (key, value) in [
        ("owner", json!(s.owner)),
        ("created_at", json!(s.created_at)),
        ("created_by", json!(s.created_by)),
        ("updated_at", json!(s.updated_at)),
        ("updated_by", json!(s.updated_by)),
        ("metastore_id", json!(METASTORE_ID)),
    ] {
        out.insert(key.into(), value);
    }
    Value::Object(out)
}

/// A new securable of `caller`'s, its fields counted against the budget.
fn record(budget: &Arc<Budget>, caller: &Caller, fields: Map<String, Value>) -> ApiResult<Securable> {
    let held = budget.hold_json(&fields).map_err(StorageFull::api_error)?;
    let now = now_ms();
    Ok(Securable {
        owner: caller.user_name.clone(),
        created_at: now,
        created_by: caller.user_name.clone(),
        updated_at: now,
        updated_by: caller.user_name.clone(),
        fields,
        held,
    })
}

/// An update by `caller`: the fields given set, the owner moved if one is
/// given. The new fields count against the budget in place of the old; an
/// update past the budget changes nothing.
fn update_record(
    s: &mut Securable,
    caller: &Caller,
    changes: impl IntoIterator<Item = (&'static str, Option<Value>)>,
    owner: Option<String>,
) -> ApiResult<()> {
    let mut fields = s.fields.clone();
    for (key, value) in changes {
        if let Some(value) = value {
            fields.insert(key.into(), value);
        }
    }
    s.held.resize_json(&fields).map_err(StorageFull::api_error)?;
    s.fields = fields;
    if let Some(owner) = owner.filter(|o| !o.is_empty()) {
        s.owner = owner;
    }
    s.updated_at = now_ms();
    s.updated_by = caller.user_name.clone();
    Ok(())
}

/// A page of a listing in name order: `max_results` (0: everything, as the
/// API allows; at most 1,000), and the cursor of the next page.
fn listed<'a>(
    items: impl Iterator<Item = (&'a String, &'a Securable)>,
    kind: Kind,
    params: &Params,
    key: &str,
) -> ApiResult<Value> {
    listed_as(items, params, key, |name, s| render(kind, name, s))
}

/// [`listed`], each item shown by `show`.
fn listed_as<'a>(
    items: impl Iterator<Item = (&'a String, &'a Securable)>,
    params: &Params,
    key: &str,
    show: impl Fn(&String, &Securable) -> Value,
) -> ApiResult<Value> {
    let size = match params.int("max_results")?.unwrap_or(0) {
        n if n < 0 => return Err(ApiError::invalid("max_results must not be negative.")),
        0 => 1000,
        n => (n as usize).min(1000),
    };
    let mut items = items.peekable();
    let mut page = Vec::new();
    let mut last = None;
    while page.len() < size {
        let Some((name, s)) = items.next() else { break };
        page.push(show(name, s));
        last = Some(name.clone());
    }
    let next = last.filter(|_| items.peek().is_some()).map(|l| cursor_after(&l));
    Ok(page_body(json!({}), key, page, next))
}

/// The page token of a listing that resumes after `name`.
pub(super) fn cursor_after(name: &str) -> String {
    crate::api::cursor_token("uc", name)
}

/// Where a listing resumes: the name its token carries.
pub(super) fn resume_after(params: &Params) -> ApiResult<Option<String>> {
    crate::api::resume_after(params, "uc")
}

/// The world's store (a shorthand for the handlers).
fn store(w: &World) -> &Catalog {
    &w.catalog
}

/// What the `/Volumes/c/s/v/...` path names: the volume's full name.
pub fn volume_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/Volumes/")?;
    let mut parts = rest.split('/');
    let (c, s, v) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!("{c}.{s}.{v}").to_lowercase())
}

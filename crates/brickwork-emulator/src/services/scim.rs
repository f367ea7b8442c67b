//! SCIM 2.0 identities: users, groups and service principals, with the
//! filters, paging, PATCH operations and error shape of the workspace SCIM
//! API. Reads are open to every user; writes need a workspace admin.
//!
//! Bodies decode into typed records: a field the API does not know is
//! dropped, a field of the wrong type is a 400, and what is stored is what
//! `GET` shows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::api::{ApiError, ApiResult, Body, Params};
use crate::state::{AppState, Caller, World};
use crate::storage::{json_len, Holdings, StorageFull};

const PREFIX: &str = "/api/2.0/preview/scim/v2";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The group every user is in, and the one whose members are admins.
pub const USERS_GROUP: &str = "users";
pub const ADMINS_GROUP: &str = "admins";

/// A multi-valued attribute's entry (`emails`, `entitlements`, `members`...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ComplexValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Name {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// A workspace user as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct User {
    pub user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A group as stored; its members are kept in [`Directory`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Group {
    pub display_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A service principal as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub application_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ComplexValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Users, groups, service principals and group membership, by id, with
/// the indexes a request needs (by name, groups of a member) so a lookup
/// costs the same with ten principals as with a hundred thousand.
#[derive(Debug, Default)]
pub struct Directory {
    users: BTreeMap<i64, User>,
    groups: BTreeMap<i64, Group>,
    service_principals: BTreeMap<i64, ServicePrincipal>,
    /// Group id -> member ids (users, service principals or groups).
    members: BTreeMap<i64, BTreeSet<i64>>,
    /// Member id -> the groups it is directly in (the reverse of `members`).
    member_of: HashMap<i64, BTreeSet<i64>>,
    /// Lowercased unique name -> id, one map per kind: names are unique
    /// without regard to case.
    user_names: HashMap<String, i64>,
    group_names: HashMap<String, i64>,
    application_ids: HashMap<String, i64>,
    /// Each record's count (with a group's members) against the storage budget.
    held: Holdings<i64>,
}

/// Count record `id` as it will be stored, with `members` of a group, before
/// it is: past the budget nothing changes.
fn count<R: Resource>(w: &mut World, id: i64, record: &R, members: usize) -> ApiResult<()> {
    let bytes = json_len(record) + 16 * members as u64;
    w.directory.held.count(&w.budget, id, bytes).map_err(StorageFull::api_error)
}

/// `name` as the name indexes key it (case folded); borrowed when it is
/// already, as nearly every name is: lookups run on every request.
fn folded(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(name.to_lowercase())
    }
}

impl Directory {
    pub fn user_id(&self, user_name: &str) -> Option<i64> {
        self.user_names.get(&*folded(user_name)).copied()
    }

    pub fn sp_id(&self, application_id: &str) -> Option<i64> {
        let id = self.application_ids.get(&*folded(application_id)).copied()?;
        // Application ids are matched exactly; the index only finds the candidate.
        self.service_principals.get(&id).filter(|sp| sp.application_id == application_id).map(|_| id)
    }

    /// The names of the groups the principal named `name` is in, directly
    /// or through other groups.
    pub fn group_names_of(&self, name: &str) -> Vec<String> {
        let Some(start) = self.user_id(name).or_else(|| self.sp_id(name)) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut pending = vec![start];
        while let Some(member) = pending.pop() {
            for &group in self.groups_of(member) {
                if seen.insert(group) {
                    pending.push(group);
                }
            }
        }
        seen.into_iter().filter_map(|id| self.groups.get(&id).map(|g| g.display_name.clone())).collect()
    }

    /// The user name or application id of the user or service principal `id`.
    pub fn principal_name(&self, id: i64) -> Option<String> {
        self.users
            .get(&id)
            .map(|u| u.user_name.clone())
            .or_else(|| self.service_principals.get(&id).map(|sp| sp.application_id.clone()))
    }

    /// Whether a group of that display name exists.
    pub fn group_exists(&self, name: &str) -> bool {
        self.group_id(name).is_some()
    }

    /// Whether the principal named `name` (a user name or an application
    /// id) exists and is active: a deleted or deactivated principal's
    /// credentials, of any kind, are refused.
    pub fn signs_in(&self, name: &str) -> bool {
        let active = |flag: Option<bool>| flag != Some(false);
        let user = self.user_id(name).and_then(|id| self.users.get(&id)).map(|u| active(u.active));
        let sp = || self.sp_id(name).and_then(|id| self.service_principals.get(&id)).map(|sp| active(sp.active));
        user.or_else(sp).unwrap_or(false)
    }

    /// Whether the principal named `name` (user name or application id) is in `admins`.
    pub fn is_admin(&self, name: &str) -> bool {
        let id = self.user_id(name).or_else(|| self.sp_id(name));
        let admins = self.group_id(ADMINS_GROUP);
        matches!((id, admins), (Some(id), Some(group)) if self.groups_of(id).contains(&group))
    }

    pub fn group_id(&self, name: &str) -> Option<i64> {
        let id = self.group_names.get(&*folded(name)).copied()?;
        self.groups.get(&id).filter(|g| g.display_name == name).map(|_| id)
    }

    fn exists(&self, id: i64) -> bool {
        self.users.contains_key(&id) || self.groups.contains_key(&id) || self.service_principals.contains_key(&id)
    }

    /// The groups `member` is directly in.
    fn groups_of(&self, member: i64) -> &BTreeSet<i64> {
        static NONE: BTreeSet<i64> = BTreeSet::new();
        self.member_of.get(&member).unwrap_or(&NONE)
    }

    fn members_of(&self, group: i64) -> Option<&BTreeSet<i64>> {
        self.members.get(&group)
    }

    fn display_of(&self, id: i64) -> Option<String> {
        if let Some(u) = self.users.get(&id) {
            return Some(u.display_name.clone().unwrap_or_else(|| u.user_name.clone()));
        }
        if let Some(g) = self.groups.get(&id) {
            return Some(g.display_name.clone());
        }
        self.service_principals.get(&id).map(|sp| sp.display_name.clone().unwrap_or_else(|| sp.application_id.clone()))
    }

    /// Store `record` as `id`, replacing what was there and its name.
    fn put<R: Resource>(&mut self, id: i64, record: R) {
        let name = record.key().to_lowercase();
        if let Some(old) = R::table(self).insert(id, record) {
            R::names(self).remove(&old.key().to_lowercase());
        }
        R::names(self).insert(name, id);
    }

    /// The id of the record of kind `R` whose name is `key`, without regard to case.
    fn named<R: Resource>(&self, key: &str) -> Option<i64> {
        R::names_ref(self).get(&*folded(key)).copied()
    }

    /// Remove the record `id` of kind `R` and every membership it has.
    fn remove<R: Resource>(&mut self, id: i64) -> Option<R> {
        let record = R::table(self).remove(&id)?;
        R::names(self).remove(&record.key().to_lowercase());
        self.held.release(&id);
        self.set_members(id, BTreeSet::new());
        for group in self.member_of.remove(&id).unwrap_or_default() {
            if let Some(members) = self.members.get_mut(&group) {
                members.remove(&id);
            }
        }
        Some(record)
    }

    /// Make `members` the whole membership of `group`.
    fn set_members(&mut self, group: i64, members: BTreeSet<i64>) {
        for old in self.members.remove(&group).unwrap_or_default() {
            crate::index::unfile(&mut self.member_of, &old, &group);
        }
        for &member in &members {
            crate::index::file(&mut self.member_of, member, group);
        }
        if !members.is_empty() {
            self.members.insert(group, members);
        }
    }

    fn add_member(&mut self, group: i64, member: i64) {
        self.members.entry(group).or_default().insert(member);
        crate::index::file(&mut self.member_of, member, group);
    }
}

impl World {
    /// The built-in `users` and `admins` groups.
    pub fn ensure_builtin_groups(&mut self) {
        for name in [USERS_GROUP, ADMINS_GROUP] {
            if self.directory.group_id(name).is_none() {
                let id = self.next_id();
                self.directory.put(id, Group { display_name: name.to_string(), ..Group::default() });
            }
        }
    }

    /// The user named `user_name`, created (in `users`, and `admins` when
    /// `admin`) with a home folder if new.
    pub fn ensure_user(&mut self, user_name: &str, admin: bool) -> i64 {
        self.ensure_builtin_groups();
        let id = match self.directory.user_id(user_name) {
            Some(id) => id,
            None => {
                let id = self.next_id();
                let user = User { user_name: user_name.to_string(), active: Some(true), ..User::default() };
                self.directory.put(id, user);
                id
            }
        };
        self.join_builtin(id, admin);
        self.workspace.ensure_home(user_name);
        id
    }

    /// The service principal of `application_id`, created if new.
    pub fn ensure_service_principal(&mut self, application_id: &str, admin: bool) -> i64 {
        self.ensure_builtin_groups();
        let id = match self.directory.sp_id(application_id) {
            Some(id) => id,
            None => {
                let id = self.next_id();
                let sp = ServicePrincipal {
                    application_id: application_id.to_string(),
                    active: Some(true),
                    ..ServicePrincipal::default()
                };
                self.directory.put(id, sp);
                id
            }
        };
        self.join_builtin(id, admin);
        id
    }

    fn join_builtin(&mut self, id: i64, admin: bool) {
        let groups: Vec<&str> = if admin { vec![USERS_GROUP, ADMINS_GROUP] } else { vec![USERS_GROUP] };
        for name in groups {
            if let Some(group) = self.directory.group_id(name) {
                self.directory.add_member(group, id);
            }
        }
    }

    /// Tokens of `principal` stop working (the principal was deleted).
    fn revoke_tokens_of(&mut self, principal: &str) {
        self.emit(super::Event::PrincipalDeleted { name: principal.to_string() });
        self.identity.pats.retain(|_, c| c.user_name != principal);
        self.identity.oauth_tokens.retain(|_, t| t.caller.user_name != principal);
    }
}

/// What differs between the three resource types.
trait Resource: Serialize + DeserializeOwned + Clone + Default + Send + 'static {
    /// `User`, `Group` or `ServicePrincipal`, as in messages.
    const KIND: &'static str;
    /// The URL segment: `Users`, `Groups`, `ServicePrincipals`.
    const SEGMENT: &'static str;
    const SCHEMA: &'static str;
    fn table(d: &mut Directory) -> &mut BTreeMap<i64, Self>;
    fn table_ref(d: &Directory) -> &BTreeMap<i64, Self>;
    /// The index of lowercased unique names.
    fn names(d: &mut Directory) -> &mut HashMap<String, i64>;
    fn names_ref(d: &Directory) -> &HashMap<String, i64>;
    /// The unique name (userName, displayName, applicationId) and its field.
    fn key(&self) -> &str;
    const KEY_FIELD: &'static str;
    /// Fill in what the server decides at creation.
    fn complete(&mut self) {}
    /// The principal name tokens carry, for revocation on delete.
    fn principal(&self) -> Option<&str> {
        None
    }
}

impl Resource for User {
    const KIND: &'static str = "User";
    const SEGMENT: &'static str = "Users";
    const SCHEMA: &'static str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const KEY_FIELD: &'static str = "userName";
    fn table(d: &mut Directory) -> &mut BTreeMap<i64, Self> {
        &mut d.users
    }
    fn table_ref(d: &Directory) -> &BTreeMap<i64, Self> {
        &d.users
    }
    fn names(d: &mut Directory) -> &mut HashMap<String, i64> {
        &mut d.user_names
    }
    fn names_ref(d: &Directory) -> &HashMap<String, i64> {
        &d.user_names
    }
    fn key(&self) -> &str {
        &self.user_name
    }
    fn complete(&mut self) {
        self.active.get_or_insert(true);
        if self.emails.is_empty() {
            let email = ComplexValue {
                value: Some(self.user_name.clone()),
                primary: Some(true),
                kind: Some("work".into()),
                ..Default::default()
            };
            self.emails.push(email);
        }
    }
    fn principal(&self) -> Option<&str> {
        Some(&self.user_name)
    }
}

impl Resource for Group {
    const KIND: &'static str = "Group";
    const SEGMENT: &'static str = "Groups";
    const SCHEMA: &'static str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    const KEY_FIELD: &'static str = "displayName";
    fn table(d: &mut Directory) -> &mut BTreeMap<i64, Self> {
        &mut d.groups
    }
    fn table_ref(d: &Directory) -> &BTreeMap<i64, Self> {
        &d.groups
    }
    fn names(d: &mut Directory) -> &mut HashMap<String, i64> {
        &mut d.group_names
    }
    fn names_ref(d: &Directory) -> &HashMap<String, i64> {
        &d.group_names
    }
    fn key(&self) -> &str {
        &self.display_name
    }
}

impl Resource for ServicePrincipal {
    const KIND: &'static str = "ServicePrincipal";
    const SEGMENT: &'static str = "ServicePrincipals";
    const SCHEMA: &'static str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
    const KEY_FIELD: &'static str = "applicationId";
    fn table(d: &mut Directory) -> &mut BTreeMap<i64, Self> {
        &mut d.service_principals
    }
    fn table_ref(d: &Directory) -> &BTreeMap<i64, Self> {
        &d.service_principals
    }
    fn names(d: &mut Directory) -> &mut HashMap<String, i64> {
        &mut d.application_ids
    }
    fn names_ref(d: &Directory) -> &HashMap<String, i64> {
        &d.application_ids
    }
    fn key(&self) -> &str {
        &self.application_id
    }
    fn complete(&mut self) {
        self.active.get_or_insert(true);
        if self.application_id.is_empty() {
            self.application_id = crate::ids::uuid();
        }
    }
    fn principal(&self) -> Option<&str> {
        Some(&self.application_id)
    }
}

/// The SCIM service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "scim"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .merge(resource_routes::<User>())
        .merge(resource_routes::<Group>())
        .merge(resource_routes::<ServicePrincipal>())
}

fn resource_routes<R: Resource>() -> Router<AppState> {
    let collection = format!("{PREFIX}/{}", R::SEGMENT);
    let item = format!("{collection}/{{id}}");
    Router::new()
        .route(&collection, get(list::<R>).post(create::<R>))
        .route(&item, get(get_one::<R>).put(replace::<R>).patch(patch::<R>).delete(delete::<R>))
}

fn not_found<R: Resource>(id: &str) -> ApiError {
    ApiError::scim(404, format!("{} {id} not found.", R::KIND))
}

fn admins_only(caller: &Caller) -> ApiResult<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::scim(403, "Only workspace admins can change users, groups and service principals."))
    }
}

fn parse_id<R: Resource>(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| not_found::<R>(raw))
}

/// A resource as the API shows it: its fields, id, schemas and membership.
fn render<R: Resource>(d: &Directory, id: i64, record: &R) -> Value {
    let mut out = serde_json::to_value(record).unwrap_or_else(|_| json!({}));
    out["id"] = json!(id.to_string());
    out["schemas"] = json!([R::SCHEMA]);
    let groups: Vec<Value> = d
        .groups_of(id)
        .iter()
        .map(|&g| json!({"value": g.to_string(), "display": d.display_of(g), "type": "direct", "$ref": format!("Groups/{g}")}))
        .collect();
    if !groups.is_empty() {
        out["groups"] = json!(groups);
    }
    if let Some(members) = d.members_of(id).filter(|_| R::KIND == "Group") {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": m.to_string(), "display": d.display_of(*m), "$ref": member_ref(d, *m)}))
            .collect();
        if !members.is_empty() {
            out["members"] = json!(members);
        }
    }
    out["meta"] = json!({"resourceType": R::KIND});
    out
}

/// `/Me`: the caller as a SCIM user. A service principal shows as a user
/// named by its application id, as workspaces answer it.
pub fn me(w: &World, caller: &Caller) -> ApiResult<Value> {
    let sp = w.directory.sp_id(&caller.user_name);
    if let Some((sp, record)) = sp.and_then(|id| w.directory.service_principals.get(&id).map(|r| (id, r))) {
        let as_user = User {
            user_name: record.application_id.clone(),
            display_name: record.display_name.clone(),
            active: record.active,
            ..User::default()
        };
        let mut out = render(&w.directory, sp, &as_user);
        out["schemas"] = json!(USER_SCHEMAS);
        return Ok(out);
    }
    // Authentication let the caller in, so they are in the directory: `/Me`
    // reads it and never creates anyone.
    let user = w.directory.user_id(&caller.user_name).and_then(|id| w.directory.users.get(&id).map(|r| (id, r)));
    let (id, record) = user.ok_or_else(|| ApiError::not_found(format!("User {} does not exist.", caller.user_name)))?;
    let mut out = render(&w.directory, id, record);
    out["schemas"] = json!(USER_SCHEMAS);
    Ok(out)
}

const USER_SCHEMAS: [&str; 2] =
    ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:workspace:2.0:User"];

fn member_ref(d: &Directory, id: i64) -> String {
    let segment = if d.users.contains_key(&id) {
        User::SEGMENT
    } else if d.groups.contains_key(&id) {
        Group::SEGMENT
    } else {
        ServicePrincipal::SEGMENT
    };
    format!("{segment}/{id}")
}

/// Keep only the `attributes` asked for, or drop the `excludedAttributes`.
fn project(mut item: Value, params: &Params) -> Value {
    let names = |key: &str| -> Option<Vec<String>> {
        params.get(key).map(|list| list.split(',').map(|a| a.trim().to_ascii_lowercase()).collect())
    };
    if let Value::Object(map) = &mut item {
        if let Some(keep) = names("attributes") {
            map.retain(|k, _| k == "id" || k == "schemas" || keep.contains(&k.to_ascii_lowercase()));
        }
        if let Some(drop) = names("excludedAttributes") {
            map.retain(|k, _| k == "id" || !drop.contains(&k.to_ascii_lowercase()));
        }
    }
    item
}

async fn list<R: Resource>(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filter = params.get("filter").map(Filter::parse).transpose()?;
    let start = params.int("startIndex")?.unwrap_or(1).max(1) as usize;
    let count = params.int("count")?.unwrap_or(10_000).clamp(0, 10_000) as usize;
    s.with(|w| {
        let d = &w.directory;
        let table = R::table_ref(d);
        // Only the page is rendered and kept; a filter is matched against
        // each rendered record, as it may name any attribute.
        let (total, page) = match &filter {
            None => (table.len(), table.iter().skip(start - 1).take(count).map(|(id, r)| render(d, *id, r)).collect()),
            Some(filter) => {
                // `userName eq "..."` (the usual lookup) reads one record
                // through the name index; another filter reads them all.
                let records: Box<dyn Iterator<Item = (&i64, &R)>> = match filter.equality_on(R::KEY_FIELD) {
                    Some(name) => {
                        Box::new(R::names_ref(d).get(&name).and_then(|id| table.get_key_value(id)).into_iter())
                    }
                    None => Box::new(table.iter()),
                };
                let (mut total, mut page) = (0, Vec::new());
                for item in records.map(|(id, r)| render(d, *id, r)).filter(|item| filter.matches(item)) {
                    total += 1;
                    if total >= start && page.len() < count {
                        page.push(item);
                    }
                }
                (total, page)
            }
        };
        let page: Vec<Value> = page.into_iter().map(|item| project(item, &params)).collect();
        let mut out = json!({
            "totalResults": total, "startIndex": start, "itemsPerPage": page.len(), "schemas": [LIST_SCHEMA],
        });
        if !page.is_empty() {
            out["Resources"] = json!(page);
        }
        Ok(Json(out))
    })
}

async fn get_one<R: Resource>(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let id = parse_id::<R>(&raw)?;
    s.with(|w| {
        let record = R::table_ref(&w.directory).get(&id).ok_or_else(|| not_found::<R>(&raw))?;
        Ok(Json(project(render(&w.directory, id, record), &params)))
    })
}

/// A body as the record `R`: unknown fields dropped, wrong types refused.
fn decode<R: Resource>(body: &Value) -> ApiResult<R> {
    let mut fields = body.as_object().cloned().unwrap_or_default();
    // Server-owned or membership attributes are not part of the record.
    for key in ["id", "schemas", "meta", "groups", "members"] {
        fields.remove(key);
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::scim(400, format!("Invalid {} attributes: {e}", R::KIND)))
}

/// `members` of a group body, checked to name existing principals.
fn member_ids(d: &Directory, body: &Value, group: Option<i64>) -> ApiResult<BTreeSet<i64>> {
    let entries: Vec<ComplexValue> = match body.get("members") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| ApiError::scim(400, format!("Invalid members: {e}")))?
        }
    };
    entries.iter().map(|m| member_id(d, m.value.as_deref().unwrap_or_default(), group)).collect()
}

fn member_id(d: &Directory, raw: &str, group: Option<i64>) -> ApiResult<i64> {
    let id: i64 = raw.parse().map_err(|_| ApiError::scim(404, format!("Member {raw} not found.")))?;
    if !d.exists(id) {
        return Err(ApiError::scim(404, format!("Member {raw} not found.")));
    }
    if Some(id) == group {
        return Err(ApiError::scim(400, "A group cannot be a member of itself."));
    }
    Ok(id)
}

fn check_unique<R: Resource>(d: &Directory, record: &R, except: Option<i64>) -> ApiResult<()> {
    if record.key().is_empty() {
        return Err(ApiError::scim(400, format!("Request is missing required field: {}", R::KEY_FIELD)));
    }
    let taken = d.named::<R>(record.key()).is_some_and(|id| Some(id) != except);
    if taken {
        return Err(ApiError::scim(409, format!("{} with {} {} already exists.", R::KIND, R::KEY_FIELD, record.key())));
    }
    Ok(())
}

async fn create<R: Resource>(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult<Response> {
    admins_only(&caller)?;
    let mut record: R = decode(&body)?;
    record.complete();
    s.with(|w| {
        check_unique(&w.directory, &record, None)?;
        let members = member_ids(&w.directory, &body, None)?;
        let groups = requested_groups(&w.directory, &body)?;
        let id = w.next_id();
        count(w, id, &record, members.len())?;
        w.directory.put(id, record.clone());
        if R::KIND == "Group" {
            w.directory.set_members(id, members);
        }
        for group in groups {
            w.directory.add_member(group, id);
        }
        if R::KIND != "Group" {
            w.join_builtin(id, false);
        }
        if R::KIND == "User" {
            w.workspace.ensure_home(record.key());
        }
        let rendered = render(&w.directory, id, &record);
        Ok((StatusCode::CREATED, Json(rendered)).into_response())
    })
}

/// Groups a user or service principal asks to join at creation.
fn requested_groups(d: &Directory, body: &Value) -> ApiResult<Vec<i64>> {
    let entries: Vec<ComplexValue> = match body.get("groups") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| ApiError::scim(400, format!("Invalid groups: {e}")))?
        }
    };
    entries
        .iter()
        .map(|g| {
            let raw = g.value.as_deref().unwrap_or_default();
            raw.parse::<i64>()
                .ok()
                .filter(|id| d.groups.contains_key(id))
                .ok_or_else(|| ApiError::scim(404, format!("Group {raw} not found.")))
        })
        .collect()
}

/// `PUT`: the body replaces every attribute (and a group's members).
async fn replace<R: Resource>(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    admins_only(&caller)?;
    let id = parse_id::<R>(&raw)?;
    let mut record: R = decode(&body)?;
    record.complete();
    s.with(|w| {
        if !R::table_ref(&w.directory).contains_key(&id) {
            return Err(not_found::<R>(&raw));
        }
        check_unique(&w.directory, &record, Some(id))?;
        let members = match R::KIND {
            "Group" => Some(member_ids(&w.directory, &body, Some(id))?),
            _ => None,
        };
        count(w, id, &record, members.as_ref().map_or(0, BTreeSet::len))?;
        if let Some(members) = members {
            w.directory.set_members(id, members);
        }
        w.directory.put(id, record.clone());
        Ok(Json(render(&w.directory, id, &record)))
    })
}

async fn delete<R: Resource>(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    admins_only(&caller)?;
    let id = parse_id::<R>(&raw)?;
    s.with(|w| {
        let record = w.directory.remove::<R>(id).ok_or_else(|| not_found::<R>(&raw))?;
        if let Some(principal) = record.principal() {
            w.revoke_tokens_of(principal);
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// One PATCH operation.
#[derive(Debug, Deserialize)]
struct Operation {
    op: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct PatchRequest {
    #[serde(default)]
    schemas: Vec<String>,
    #[serde(rename = "Operations", default)]
    operations: Vec<Operation>,
}

async fn patch<R: Resource>(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(body): Body<PatchRequest>,
) -> ApiResult<Json<Value>> {
    admins_only(&caller)?;
    let id = parse_id::<R>(&raw)?;
    if !body.schemas.iter().any(|s| s == PATCH_SCHEMA) {
        return Err(ApiError::scim(400, format!("The PATCH body must name the schema {PATCH_SCHEMA}.")));
    }
    s.with(|w| {
        let record = R::table_ref(&w.directory).get(&id).cloned().ok_or_else(|| not_found::<R>(&raw))?;
        let mut fields = match serde_json::to_value(&record) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let mut members = w.directory.members_of(id).cloned().unwrap_or_default();
        for operation in &body.operations {
            apply(&w.directory, id, R::KIND == "Group", operation, &mut fields, &mut members)?;
        }
        let mut updated: R = decode(&Value::Object(fields))?;
        updated.complete();
        check_unique(&w.directory, &updated, Some(id))?;
        count(w, id, &updated, members.len())?;
        w.directory.put(id, updated.clone());
        if R::KIND == "Group" {
            w.directory.set_members(id, members);
        }
        Ok(Json(render(&w.directory, id, &updated)))
    })
}

/// Apply one operation to a record's fields and (for a group) its members.
fn apply(
    d: &Directory,
    id: i64,
    is_group: bool,
    operation: &Operation,
    fields: &mut Map<String, Value>,
    members: &mut BTreeSet<i64>,
) -> ApiResult<()> {
    let op = operation.op.to_ascii_lowercase();
    if !matches!(op.as_str(), "add" | "replace" | "remove") {
        return Err(ApiError::scim(400, format!("Unsupported PATCH operation: {}", operation.op)));
    }
    let Some(path) = operation.path.as_deref().filter(|p| !p.is_empty()) else {
        // No path: the value is an object of attributes to add or replace.
        let Some(Value::Object(values)) = &operation.value else {
            return Err(ApiError::scim(400, "A PATCH operation without a path needs an object value."));
        };
        for (attribute, value) in values {
            let step = Operation { op: op.clone(), path: Some(attribute.clone()), value: Some(value.clone()) };
            apply(d, id, is_group, &step, fields, members)?;
        }
        return Ok(());
    };
    // `members[value eq "123"]`-style paths select entries of a list.
    let (attribute, selector) = match path.split_once('[') {
        Some((attribute, rest)) => (attribute, Some(Filter::parse(rest.trim_end_matches(']'))?)),
        None => (path, None),
    };
    if is_group && attribute.eq_ignore_ascii_case("members") {
        return apply_members(d, id, &op, selector.as_ref(), operation.value.as_ref(), members);
    }
    let key =
        fields.keys().find(|k| k.eq_ignore_ascii_case(attribute)).cloned().unwrap_or_else(|| attribute.to_string());
    match (op.as_str(), selector) {
        ("remove", None) => {
            fields.remove(&key);
        }
        ("remove", Some(selector)) => {
            if let Some(Value::Array(items)) = fields.get_mut(&key) {
                items.retain(|item| !selector.matches(item));
            }
        }
        (_, Some(_)) => return Err(ApiError::scim(400, format!("A filtered path ({path}) can only be removed."))),
        ("add", None) => {
            let value = operation.value.clone().unwrap_or(Value::Null);
            match (fields.get_mut(&key), value) {
                (Some(Value::Array(items)), Value::Array(more)) => {
                    for item in more {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                }
                (_, value) => {
                    fields.insert(key, value);
                }
            }
        }
        _ => {
            fields.insert(key, operation.value.clone().unwrap_or(Value::Null));
        }
    }
    Ok(())
}

fn apply_members(
    d: &Directory,
    group: i64,
    op: &str,
    selector: Option<&Filter>,
    value: Option<&Value>,
    members: &mut BTreeSet<i64>,
) -> ApiResult<()> {
    let listed = || -> ApiResult<BTreeSet<i64>> {
        let wrapped = json!({"members": value.cloned().unwrap_or(Value::Null)});
        member_ids(d, &wrapped, Some(group))
    };
    match (op, selector) {
        ("remove", Some(selector)) => members.retain(|m| !selector.matches(&json!({"value": m.to_string()}))),
        ("remove", None) if value.is_some() => {
            for m in listed()? {
                members.remove(&m);
            }
        }
        ("remove", None) => members.clear(),
        ("add", None) => members.extend(listed()?),
        ("replace", None) => *members = listed()?,
        _ => return Err(ApiError::scim(400, "A filtered members path can only be removed.")),
    }
    Ok(())
}

/// A SCIM filter: `or` of `and` of `attribute op value` comparisons
/// (`eq ne co sw ew gt lt ge le`, and `pr`), attributes matched by name
/// without regard to case, sub-attributes with a dot (`emails.value`).
#[derive(Debug)]
struct Filter {
    any_of: Vec<Vec<Comparison>>,
}

#[derive(Debug)]
struct Comparison {
    path: Vec<String>,
    op: String,
    value: Option<Value>,
}

impl Filter {
    fn parse(text: &str) -> ApiResult<Filter> {
        let invalid = || ApiError::scim(400, format!("Invalid filter: {text}"));
        let tokens = tokenize(text).ok_or_else(invalid)?;
        let mut any_of = vec![Vec::new()];
        let mut rest = tokens.as_slice();
        loop {
            let [attribute, op, tail @ ..] = rest else {
                return Err(invalid());
            };
            let op = op.to_ascii_lowercase();
            let (value, tail) = match (op.as_str(), tail) {
                ("pr", tail) => (None, tail),
                (_, [value, tail @ ..]) => (Some(literal(value).ok_or_else(invalid)?), tail),
                _ => return Err(invalid()),
            };
            if !matches!(op.as_str(), "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "lt" | "ge" | "le" | "pr") {
                return Err(invalid());
            }
            let path = attribute.split('.').map(str::to_string).collect();
            any_of.last_mut().ok_or_else(invalid)?.push(Comparison { path, op, value });
            match tail {
                [] => break,
                [joiner, more @ ..] if joiner.eq_ignore_ascii_case("and") => rest = more,
                [joiner, more @ ..] if joiner.eq_ignore_ascii_case("or") => {
                    any_of.push(Vec::new());
                    rest = more;
                }
                _ => return Err(invalid()),
            }
        }
        Ok(Filter { any_of })
    }

    /// The value, lowercased as names are indexed, when the filter is just
    /// `attribute eq "value"`.
    fn equality_on(&self, attribute: &str) -> Option<String> {
        let [all] = self.any_of.as_slice() else { return None };
        let [only] = all.as_slice() else { return None };
        let [path] = only.path.as_slice() else { return None };
        match &only.value {
            Some(Value::String(value)) if only.op == "eq" && path.eq_ignore_ascii_case(attribute) => {
                Some(value.to_lowercase())
            }
            _ => None,
        }
    }

    fn matches(&self, item: &Value) -> bool {
        self.any_of.iter().any(|all| all.iter().all(|c| c.matches(item)))
    }
}

impl Comparison {
    fn matches(&self, item: &Value) -> bool {
        let values = lookup(item, &self.path);
        if self.op == "pr" {
            return values.iter().any(|v| !v.is_null());
        }
        let Some(want) = &self.value else {
            return false;
        };
        let hit = values.iter().any(|have| compare(have, &self.op, want));
        // `ne` holds when no value equals.
        if self.op == "ne" {
            values.iter().all(|have| compare(have, "ne", want))
        } else {
            hit
        }
    }
}

/// The values at `path`, looking through lists (`emails.value` is every
/// email's value; `groups` alone is every group's `value`).
fn lookup(item: &Value, path: &[String]) -> Vec<Value> {
    let Some((first, rest)) = path.split_first() else {
        return match item {
            Value::Array(items) => items.iter().flat_map(|i| lookup(i, &["value".to_string()])).collect(),
            other => vec![other.clone()],
        };
    };
    match item {
        Value::Array(items) => items.iter().flat_map(|i| lookup(i, path)).collect(),
        Value::Object(map) => match map.iter().find(|(k, _)| k.eq_ignore_ascii_case(first)) {
            Some((_, v)) if rest.is_empty() && v.is_array() => lookup(v, &[]),
            Some((_, v)) => lookup(v, rest),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn compare(have: &Value, op: &str, want: &Value) -> bool {
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = (h.to_lowercase(), w.to_lowercase());
            match op {
                "eq" => h == w,
                "ne" => h != w,
                "co" => h.contains(&w),
                "sw" => h.starts_with(&w),
                "ew" => h.ends_with(&w),
                "gt" => h > w,
                "lt" => h < w,
                "ge" => h >= w,
                "le" => h <= w,
                _ => false,
            }
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            "eq" => h == w,
            "ne" => h != w,
            _ => false,
        },
        _ => op == "ne",
    }
}

/// Words and double-quoted strings (with `\"` escapes).
fn tokenize(text: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut quoted = String::from("\"");
            loop {
                match chars.next()? {
                    '\\' => quoted.push(chars.next()?),
                    '"' => break,
                    other => quoted.push(other),
                }
            }
            tokens.push(quoted);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        }
    }
    Some(tokens)
}

/// A filter value: a quoted string, `true`, `false` or `null`.
fn literal(token: &str) -> Option<Value> {
    if let Some(text) = token.strip_prefix('"') {
        return Some(Value::String(text.to_string()));
    }
    match token.to_ascii_lowercase().as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ => token.parse::<f64>().ok().map(|_| Value::String(token.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;
    use serde_json::json;

    #[test]
    fn filters_honour_the_attribute_operator_and_joiners() {
        let ann = json!({"userName": "ann@example.com", "displayName": "Ann", "active": true,
            "emails": [{"value": "ann@corp.example"}], "groups": [{"value": "7"}]});
        let cases = [
            ("userName eq \"ANN@example.com\"", true),
            ("displayName eq \"ann@example.com\"", false),
            ("displayName co \"nn\" and active eq true", true),
            ("userName sw \"bob\" or emails.value ew \"corp.example\"", true),
            ("groups eq \"7\"", true),
            ("externalId pr", false),
            ("userName ne \"ann@example.com\"", false),
        ];
        for (text, want) in cases {
            let filter = Filter::parse(text).expect(text);
            assert_eq!(filter.matches(&ann), want, "{text}");
        }
        let lookup = |text: &str| Filter::parse(text).expect(text).equality_on("userName");
        assert_eq!(lookup("USERNAME eq \"Ann@Example.com\""), Some("ann@example.com".to_string()));
        for scan in ["userName co \"a\"", "userName eq \"a\" or userName eq \"b\"", "userName eq true"] {
            assert_eq!(lookup(scan), None, "{scan}");
        }
        assert_eq!(lookup("userName eq \"a\" and active eq true"), None);
        assert_eq!(lookup("displayName eq \"a\""), None);
        for bad in ["userName", "userName eq", "userName like \"a\"", "a eq \"b\" xor c eq \"d\"", "a eq \"open"] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}

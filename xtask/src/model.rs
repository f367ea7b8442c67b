//! The shape of `api/model.json` (written by `api/build_model.py`).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Model {
    pub source: Source,
    pub packages: BTreeMap<String, Package>,
}

#[derive(Debug, Deserialize)]
pub struct Source {
    pub package: String,
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub services: Vec<Service>,
    pub types: Vec<TypeDef>,
    pub enums: Vec<EnumDef>,
}

#[derive(Debug, Deserialize)]
pub struct Service {
    pub name: String,
    pub level: String,
    pub accessors: Vec<String>,
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// An official method the model does not describe as an HTTP operation.
#[derive(Debug, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub name: String,
    pub python_name: String,
    pub method: String,
    pub path: String,
    pub params: Vec<Param>,
    pub raw_response: bool,
    pub returns: Option<TypeRef>,
    pub pagination: Option<Pagination>,
    pub waiter: Option<Waiter>,
    pub wait_response: Option<TypeRef>,
    pub docs_url: String,
    #[serde(default)]
    pub response_headers: Vec<String>,
    #[serde(default)]
    pub lro: Option<Lro>,
}

/// A long-running operation: the answer is the package's `Operation`,
/// polled by name until done.
#[derive(Debug, Deserialize)]
pub struct Lro {
    pub poll: String,
    pub result: Option<TypeRef>,
}

#[derive(Debug, Deserialize)]
pub struct Param {
    pub name: String,
    pub wire: String,
    #[serde(rename = "in")]
    pub location: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TypeRef {
    pub kind: String,
    pub package: Option<String>,
    pub name: Option<String>,
    pub items: Option<Box<TypeRef>>,
    pub values: Option<Box<TypeRef>>,
    pub result: Option<Box<TypeRef>>,
}

#[derive(Debug, Deserialize)]
pub struct Pagination {
    pub style: String,
    pub items: Option<String>,
    pub request_field: Option<String>,
    pub response_field: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Waiter {
    pub name: String,
    pub args: Vec<String>,
    pub poll: Option<Poll>,
    pub target: Vec<String>,
    pub failure: Vec<String>,
    pub status_path: Option<Vec<String>>,
    pub message_path: Option<Vec<String>>,
    #[serde(default)]
    pub bind: BTreeMap<String, Bind>,
}

#[derive(Debug, Deserialize)]
pub struct Poll {
    pub method: String,
    pub args: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct Bind {
    pub from: String,
    pub field: String,
}

#[derive(Debug, Deserialize)]
pub struct TypeDef {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Deserialize)]
pub struct Field {
    pub name: String,
    pub wire: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Deserialize)]
pub struct EnumDef {
    pub name: String,
    pub values: Vec<EnumValue>,
}

#[derive(Debug, Deserialize)]
pub struct EnumValue {
    pub name: String,
    pub wire: String,
}

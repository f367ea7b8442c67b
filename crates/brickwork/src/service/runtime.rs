//! What generated service methods call: request assembly from an operation
//! description (path, query and body parameters by wire name) and lazy
//! pagination as a `Stream`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::transport::{encode_query, Method, RequestBuilder, Response};
use crate::Client;

/// An operation as the model describes it.
#[derive(Debug)]
pub struct Operation {
    /// HTTP method.
    pub method: &'static str,
    /// Path template with `{name}` placeholders.
    pub path: &'static str,
    /// Wire names substituted into the path.
    pub path_params: &'static [&'static str],
    /// Wire names sent in the query string.
    pub query: &'static [&'static str],
    /// What goes in the body.
    pub body: BodyKind,
}

/// The body of an operation.
#[derive(Debug)]
pub enum BodyKind {
    /// No body.
    None,
    /// A JSON object of these fields (only those that are set).
    Fields(&'static [&'static str]),
    /// The JSON of one field is the whole body.
    Whole(&'static str),
    /// Raw bytes (uploads).
    Raw(&'static str),
}

/// The request of an operation without parameters.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NoRequest;

/// How an operation pages.
#[derive(Debug)]
pub struct Pages {
    /// The paging scheme.
    pub style: PageStyle,
    /// The response array holding the items.
    pub items: Option<&'static str>,
    /// The request field that asks for the next page.
    pub request_field: Option<&'static str>,
    /// The response field that tells where the next page is.
    pub response_field: Option<&'static str>,
}

/// Paging schemes found in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStyle {
    /// `page_token` <- `next_page_token` until it is absent or empty.
    Token,
    /// An offset advanced by the number of items until a page is empty.
    Offset,
    /// The response carries the whole next request.
    NextRequest,
    /// One response holds every item.
    SinglePage,
}

fn to_map(request: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(request).map_err(|e| Error::config(format!("cannot encode request: {e}")))? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(Error::config(format!("a request must be an object, got {other}"))),
    }
}

/// Percent-encode a path value, keeping `/` (absolute paths are embedded as-is).
fn encode_path_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Turn an operation and its parameters (as a JSON map) into a request.
fn build(client: &Client, op: &Operation, mut map: Map<String, Value>) -> Result<RequestBuilder> {
    let mut path = op.path.to_string();
    for name in op.path_params {
        let value = match map.remove(*name) {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Null) | None if *name == "account_id" => client
                .config()
                .account_id()
                .map(str::to_string)
                .ok_or_else(|| Error::config("account_id is required for account-level APIs"))?,
            Some(other) => other.to_string(),
            None => return Err(Error::config(format!("missing path parameter {name} for {} {}", op.method, op.path))),
        };
        path = path.replace(&format!("{{{name}}}"), &encode_path_value(&value));
    }
    let method =
        Method::from_bytes(op.method.as_bytes()).map_err(|_| Error::config(format!("bad method {}", op.method)))?;
    let query: Map<String, Value> =
        op.query.iter().filter_map(|k| map.remove(*k).map(|v| (k.to_string(), v))).collect();
    let mut request = client.api().request(method, path);
    if !query.is_empty() {
        request = request.query(&Value::Object(query));
    }
    match op.body {
        BodyKind::None | BodyKind::Raw(_) => {}
        BodyKind::Fields(fields) => {
            let body: Map<String, Value> =
                fields.iter().filter_map(|k| map.remove(*k).map(|v| (k.to_string(), v))).collect();
            request = request.json(&Value::Object(body));
        }
        BodyKind::Whole(field) => {
            let body = map.remove(field).filter(|v| !v.is_null()).unwrap_or_else(|| Value::Object(Map::new()));
            request = request.json(&body);
        }
    }
    Ok(request)
}

/// Call and decode the JSON answer.
pub async fn call<T: DeserializeOwned>(client: &Client, op: &Operation, request: &impl Serialize) -> Result<T> {
    build(client, op, to_map(request)?)?.send().await?.json()
}

/// Call an operation made idempotent by a token in its body: the transport
/// may replay it after any transient failure.
pub async fn call_idempotent<T: DeserializeOwned>(
    client: &Client,
    op: &Operation,
    request: &impl Serialize,
) -> Result<T> {
    build(client, op, to_map(request)?)?.idempotent(true).send().await?.json()
}

/// A fresh idempotency token (32 hex characters, within the 64 allowed).
pub fn idempotency_token() -> String {
    (0..32).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect()
}

/// Call an operation that answers nothing of interest.
pub async fn call_unit(client: &Client, op: &Operation, request: &impl Serialize) -> Result<()> {
    build(client, op, to_map(request)?)?.send().await.map(|_| ())
}

/// Call and return the raw response (downloads).
pub async fn call_raw(client: &Client, op: &Operation, request: &impl Serialize) -> Result<Response> {
    build(client, op, to_map(request)?)?.send().await
}

/// Call with raw bytes as the body (uploads).
pub async fn call_upload(client: &Client, op: &Operation, request: &impl Serialize, body: Bytes) -> Result<()> {
    build(client, op, to_map(request)?)?.bytes(body).send().await.map(|_| ())
}

/// A value the waiter needs, taken from a response or request.
pub fn bound<T>(value: Option<T>, name: &str) -> Result<T> {
    value.ok_or_else(|| Error::decode(format!("the response has no {name} to wait on")))
}

/// Items of a list operation, fetched a page at a time as the stream is read.
/// Only one page is held in memory.
pub struct Paginator<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T>> + Send>>,
}

impl<T> std::fmt::Debug for Paginator<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Paginator")
    }
}

impl<T: Send + 'static> Paginator<T> {
    /// Wrap any stream of items (used by helpers that post-process pages).
    pub fn from_stream(stream: impl Stream<Item = Result<T>> + Send + 'static) -> Self {
        Paginator { inner: Box::pin(stream) }
    }

    /// Read every page and collect the items (stops at the first error).
    pub async fn all(self) -> Result<Vec<T>> {
        use futures::TryStreamExt;
        self.try_collect().await
    }
}

impl<T> Stream for Paginator<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct PageState {
    client: Client,
    request: Option<Map<String, Value>>,
}

/// The items of a list operation as a lazy stream.
pub fn paginate<T: DeserializeOwned + Send + 'static>(
    client: Client,
    op: &'static Operation,
    pages: &'static Pages,
    request: &impl Serialize,
) -> Paginator<T> {
    let first = match to_map(request) {
        Ok(map) => map,
        Err(e) => return Paginator { inner: Box::pin(stream::once(async move { Err(e) })) },
    };
    let state = PageState { client, request: Some(first) };
    let pages_stream = stream::unfold(state, move |mut state| async move {
        let request = state.request.take()?;
        let items: Vec<Result<T>> = match fetch_page(&state.client, op, pages, request).await {
            Ok((items, next)) => {
                state.request = next;
                items.into_iter().map(|v| serde_json::from_value(v).map_err(Error::from)).collect()
            }
            Err(e) => vec![Err(e)],
        };
        Some((stream::iter(items), state))
    });
    Paginator { inner: Box::pin(pages_stream.flatten()) }
}

/// One page: its items, and the request for the next page if there is one.
async fn fetch_page(
    client: &Client,
    op: &Operation,
    pages: &Pages,
    request: Map<String, Value>,
) -> Result<(Vec<Value>, Option<Map<String, Value>>)> {
    let response: Value = build(client, op, request.clone())?.send().await?.json()?;
    let items = match pages.items {
        Some(field) => response.get(field).and_then(Value::as_array).cloned().unwrap_or_default(),
        None => response.as_array().cloned().unwrap_or_default(),
    };
    let next = match (pages.style, pages.request_field, pages.response_field) {
        (PageStyle::Token, Some(req), Some(resp)) => match response.get(resp).and_then(Value::as_str) {
            Some(token) if !token.is_empty() => {
                let mut next = request;
                next.insert(req.to_string(), Value::String(token.to_string()));
                Some(next)
            }
            _ => None,
        },
        (PageStyle::Offset, Some(req), _) if !items.is_empty() => {
            let start = if req == "startIndex" { 1 } else { 0 };
            let current = request.get(req).and_then(Value::as_i64).unwrap_or(start);
            let mut next = request;
            next.insert(req.to_string(), Value::from(current + items.len() as i64));
            Some(next)
        }
        (PageStyle::NextRequest, _, Some(resp)) => match response.get(resp) {
            Some(Value::Object(next)) => Some(next.clone()),
            _ => None,
        },
        _ => None,
    };
    Ok((items, next))
}

/// Query parameters of a request as they go on the wire (for tests and debugging).
pub fn query_pairs(op: &Operation, request: &impl Serialize) -> Result<Vec<(String, String)>> {
    let map = to_map(request)?;
    let query: Map<String, Value> =
        op.query.iter().filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
    encode_query(&Value::Object(query))
}

//! What generated service methods call: a fluent [`Call`] that is sent when
//! awaited, a lazy [`Paginator`] with inherent `try_next`, and the erased
//! request assembly both share (path, query and body parameters by wire name).
//!
//! Everything generic is thin: a request is turned into a JSON map once and
//! handed to one non-generic function that builds and sends it; only the
//! final decode is per type.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;

use bytes::Bytes;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::transport::{encode_query, Method, RequestBuilder, Response};
use crate::Client;

pub use crate::service::waiter::{LongRunning, Wait};

/// A boxed, sendable future: what awaiting a [`Call`] runs.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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
    /// Response headers copied into the decoded answer (by lower-case name).
    pub response_headers: &'static [&'static str],
    /// Safe to replay after any transient failure: idempotent by contract
    /// (`api/idempotent.tsv`) or deduplicated by an idempotency token.
    pub idempotent: bool,
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
    /// Raw bytes (uploads), taken from [`Request::take_body`].
    Raw(&'static str),
}

/// What every generated request type is: serialisable parameters, plus the
/// hooks a few operations need before sending.
pub trait Request: Serialize + Send + Sync + 'static {
    /// Fill what the operation adds by itself (an idempotency token).
    fn prepare(&mut self) {}

    /// The raw body of an upload.
    fn take_body(&mut self) -> Option<Bytes> {
        None
    }
}

/// The request of an operation without parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoRequest;

impl Request for NoRequest {}

/// How the answer of a call becomes its output.
pub type Decode<R, O> = fn(&Client, &R, Response) -> Result<O>;

/// An async step after the decode (merging further pages of a read).
pub type Then<R, O> = fn(Client, R, O) -> BoxFuture<Result<O>>;

/// One call of an operation: required parameters were given to the service
/// method, optional ones are set with chained setters, and the request is
/// sent when the call is awaited (or [`Call::send`] is called).
///
/// ```no_run
/// # async fn demo(w: brickwork::WorkspaceClient) -> brickwork::Result<()> {
/// let pending = w.clusters().create("15.4.x-scala2.12").cluster_name("etl").num_workers(2).await?;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<R, O> {
    client: Client,
    op: &'static Operation,
    pub(crate) request: R,
    decode: Decode<R, O>,
    then: Option<Then<R, O>>,
}

impl<R: fmt::Debug, O> fmt::Debug for Call<R, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.op.method)
            .field("path", &self.op.path)
            .field("request", &self.request)
            .finish()
    }
}

impl<R: Request, O> Call<R, O> {
    /// A call of `op` with `request` (generated code and helpers use this).
    pub fn new(client: Client, op: &'static Operation, request: R, decode: Decode<R, O>) -> Self {
        Call { client, op, request, decode, then: None }
    }

    /// The request as it stands.
    pub fn request(&self) -> &R {
        &self.request
    }

    /// Replace the whole request (for a request value built elsewhere, such
    /// as JSON given on a command line).
    pub fn with_request(mut self, request: R) -> Self {
        self.request = request;
        self
    }

    /// Give up the call and keep its request.
    pub fn into_request(self) -> R {
        self.request
    }

    /// Run `step` after the decode (helpers that complete an answer).
    #[allow(dead_code)] // used by helpers of optional API packages
    pub(crate) fn then(mut self, step: Then<R, O>) -> Self {
        self.then = Some(step);
        self
    }

    /// Send the request and decode the answer.
    pub async fn send(self) -> Result<O> {
        let Call { client, op, mut request, decode, then } = self;
        request.prepare();
        let body = request.take_body();
        let map = to_map(&request)?;
        let response = execute(&client, op, map, body).await?;
        let output = decode(&client, &request, response)?;
        match then {
            Some(step) => step(client, request, output).await,
            None => Ok(output),
        }
    }
}

impl<R: Request, O: Send + 'static> IntoFuture for Call<R, O> {
    type Output = Result<O>;
    type IntoFuture = BoxFuture<Result<O>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// Decode the JSON answer.
pub fn json<R, T: DeserializeOwned>(_: &Client, _: &R, response: Response) -> Result<T> {
    response.json()
}

/// Ignore the answer.
pub fn unit<R>(_: &Client, _: &R, _: Response) -> Result<()> {
    Ok(())
}

/// Keep the raw answer (downloads).
pub fn raw<R>(_: &Client, _: &R, response: Response) -> Result<Response> {
    Ok(response)
}

fn to_map(request: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(request).map_err(|e| Error::config(format!("cannot encode request: {e}")))? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(Error::config(format!("a request must be an object, got {other}"))),
    }
}

/// Percent-encode a path value, keeping `/` (absolute paths are embedded as-is).
pub(crate) fn encode_path_value(value: &str) -> String {
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
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Null) | Some(Value::String(_)) | None if *name == "account_id" => client
                .config()
                .account_id()
                .map(str::to_string)
                .ok_or_else(|| Error::config("account_id is required for account-level APIs"))?,
            Some(Value::String(_)) | Some(Value::Null) | None => {
                return Err(Error::config(format!("missing path parameter {name} for {} {}", op.method, op.path)))
            }
            Some(other) => other.to_string(),
        };
        path = path.replace(&format!("{{{name}}}"), &encode_path_value(&value));
    }
    let method =
        Method::from_bytes(op.method.as_bytes()).map_err(|_| Error::config(format!("bad method {}", op.method)))?;
    let query: Map<String, Value> =
        op.query.iter().filter_map(|k| map.remove(*k).map(|v| (k.to_string(), v))).collect();
    let mut request = client.api().request(method, path);
    // The list only adds safety to a method; GET/PUT/DELETE stay idempotent.
    if op.idempotent {
        request = request.idempotent(true);
    }
    if !query.is_empty() {
        request = request.query_value(Value::Object(query));
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

/// Build, send and (for operations that answer in headers) fold the named
/// response headers into the JSON answer.
async fn execute(client: &Client, op: &Operation, map: Map<String, Value>, body: Option<Bytes>) -> Result<Response> {
    let mut request = build(client, op, map)?;
    if let Some(body) = body {
        request = request.bytes(body);
    }
    let response = request.send().await?;
    if op.response_headers.is_empty() {
        Ok(response)
    } else {
        response.with_headers_in_body(op.response_headers)
    }
}

/// A fresh idempotency token (32 hex characters, within the 64 allowed).
pub fn idempotency_token() -> String {
    (0..32).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect()
}

/// A value the waiter needs, taken from a response or request.
pub fn bound<T>(value: Option<T>, name: &str) -> Result<T> {
    value.ok_or_else(|| Error::decode(format!("the response has no {name} to wait on")))
}

/// Query parameters of a request as they go on the wire (for tests and debugging).
pub fn query_pairs(op: &Operation, request: &impl Serialize) -> Result<Vec<(String, String)>> {
    let map = to_map(request)?;
    let query: Map<String, Value> =
        op.query.iter().filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
    encode_query(&Value::Object(query))
}

/// How an operation pages.
#[derive(Debug)]
pub struct Pages {
    /// The paging scheme.
    pub style: PageStyle,
    /// The response array holding the items (`None`: the answer is the array).
    pub items: Option<&'static str>,
    /// The request field that asks for the next page.
    pub request_field: Option<&'static str>,
    /// The response field that tells where the next page is.
    pub response_field: Option<&'static str>,
}

/// Paging schemes found in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStyle {
    /// `page_token` <- `next_page_token` until it is absent, empty or repeated.
    Token,
    /// SCIM `startIndex` advanced by the number of items, or a legacy
    /// `page` number advanced by one, until a page is empty.
    Offset,
    /// The response carries the whole next request.
    NextRequest,
    /// One response holds every item.
    SinglePage,
}

/// One page of a list operation, decoded once: its items and where the next
/// page is.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The value of the response's next-page field, as sent (a token, or the
    /// next request object).
    pub next: Option<Value>,
}

impl<T> Page<T> {
    /// The next page token, for resuming a listing later with the request's
    /// page-token setter.
    pub fn next_page_token(&self) -> Option<&str> {
        self.next.as_ref().and_then(Value::as_str).filter(|t| !t.is_empty())
    }
}

/// Decodes a page in one pass: the items array as `T`, the next-page field
/// as JSON, every other field skipped.
struct PageSeed<'a, T> {
    pages: &'a Pages,
    _item: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for PageSeed<'_, T> {
    type Value = Page<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Page<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for PageSeed<'_, T> {
    type Value = Page<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page of a list answer")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Page<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Page { items, next: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Page<T>, A::Error> {
        let mut page = Page { items: Vec::new(), next: None };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if Some(key.as_ref()) == self.pages.items {
                page.items = map.next_value::<Option<Vec<T>>>()?.unwrap_or_default();
            } else if Some(key.as_ref()) == self.pages.response_field {
                page.next = map.next_value::<Option<Value>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(page)
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Page<T>, E> {
        Ok(Page { items: Vec::new(), next: None })
    }
}

/// A per-item step run as items are read (completing truncated items).
pub type ItemStep<T> = fn(Client, T) -> BoxFuture<Result<T>>;

/// The items of a list operation, fetched a page at a time as they are read
/// with [`Paginator::try_next`]. Setters of optional parameters come before
/// the first read; no request is sent until then. Only one page is held.
///
/// Runnable against the embedded emulator:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> brickwork::Result<()> {
/// # let emulator = brickwork_emulator::Emulator::start().await.expect("emulator");
/// # let cfg = brickwork::Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build()?;
/// # let w = brickwork::WorkspaceClient::new(cfg).await?;
/// for name in ["a", "b", "c"] {
///     w.clusters().create("15.4.x-scala2.12").node_type_id("i3.xlarge").num_workers(0).cluster_name(name).await?;
/// }
/// let mut clusters = w.clusters().list().page_size(2); // two requests, read lazily
/// let mut names = Vec::new();
/// while let Some(cluster) = clusters.try_next().await? {
///     names.push(cluster.cluster_name.unwrap_or_default());
/// }
/// names.sort();
/// assert_eq!(names, ["a", "b", "c"]);
///
/// // One page at a time, with the token to resume from.
/// let mut pages = w.clusters().list().page_size(2).pages();
/// let first = pages.try_next().await?.expect("a first page");
/// assert_eq!(first.items.len(), 2);
/// assert!(first.next_page_token().is_some());
/// # Ok(()) }
/// ```
#[must_use = "a paginator does nothing until it is read"]
pub struct Paginator<R, T> {
    client: Client,
    op: &'static Operation,
    pages: &'static Pages,
    pub(crate) request: R,
    state: Option<Cursor<T>>,
    max_items: Option<usize>,
    dedupe: Option<fn(&T) -> Option<String>>,
    step: Option<ItemStep<T>>,
}

/// Where a listing stands between reads.
struct Cursor<T> {
    next: Option<Map<String, Value>>,
    buffer: VecDeque<T>,
    tokens: HashSet<String>,
    ids: HashSet<String>,
    yielded: usize,
}

impl<R, T> fmt::Debug for Paginator<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginator").field("method", &self.op.method).field("path", &self.op.path).finish()
    }
}

impl<R: Request, T: DeserializeOwned + Send + 'static> Paginator<R, T> {
    /// A listing of `op` (generated code uses this).
    pub fn new(client: Client, op: &'static Operation, pages: &'static Pages, request: R) -> Self {
        Paginator { client, op, pages, request, state: None, max_items: None, dedupe: None, step: None }
    }

    /// Skip items whose id was already seen (SCIM offset pages can shift
    /// under concurrent changes).
    #[allow(dead_code)] // used by optional API packages
    pub(crate) fn dedupe_by(mut self, id: fn(&T) -> Option<String>) -> Self {
        self.dedupe = Some(id);
        self
    }

    /// Run `step` on each item before it is returned.
    #[allow(dead_code)] // used by helpers of optional API packages
    pub(crate) fn each(mut self, step: ItemStep<T>) -> Self {
        self.step = Some(step);
        self
    }

    /// Stop after `n` items.
    pub fn max_items(mut self, n: usize) -> Self {
        self.max_items = Some(n);
        self
    }

    /// The request of the first page.
    pub fn request(&self) -> &R {
        &self.request
    }

    /// Replace the whole request (before the first read).
    pub fn with_request(mut self, request: R) -> Self {
        self.request = request;
        self
    }

    fn cursor(&mut self) -> Result<&mut Cursor<T>> {
        if self.state.is_none() {
            self.request.prepare();
            let first = to_map(&self.request)?;
            self.state = Some(Cursor {
                next: Some(first),
                buffer: VecDeque::new(),
                tokens: HashSet::new(),
                ids: HashSet::new(),
                yielded: 0,
            });
        }
        self.state.as_mut().ok_or_else(|| Error::config("paginator state missing"))
    }

    /// The next item, fetching the next page when this one is used up;
    /// `None` at the end.
    pub async fn try_next(&mut self) -> Result<Option<T>> {
        let (max, dedupe, step) = (self.max_items, self.dedupe, self.step);
        loop {
            let cursor = self.cursor()?;
            if max.is_some_and(|m| cursor.yielded >= m) {
                return Ok(None);
            }
            if let Some(item) = cursor.buffer.pop_front() {
                if let Some(id) = dedupe.and_then(|f| f(&item)) {
                    if !cursor.ids.insert(id) {
                        continue;
                    }
                }
                cursor.yielded += 1;
                return match step {
                    Some(step) => step(self.client.clone(), item).await.map(Some),
                    None => Ok(Some(item)),
                };
            }
            let Some(page) = self.next_page().await? else { return Ok(None) };
            let cursor = self.cursor()?;
            if let Some(id) = dedupe {
                // A page of nothing new: a server that ignores the offset would loop forever.
                if !page.items.is_empty() && page.items.iter().all(|i| id(i).is_some_and(|k| cursor.ids.contains(&k))) {
                    cursor.next = None;
                }
            }
            cursor.buffer.extend(page.items);
        }
    }

    /// The next page of the wire. Its request stays in the cursor until the
    /// page arrives: after an error (or a dropped future) the next read asks
    /// for it again.
    async fn next_page(&mut self) -> Result<Option<Page<T>>> {
        let (client, op, pages) = (self.client.clone(), self.op, self.pages);
        let cursor = self.cursor()?;
        let Some(request) = cursor.next.clone() else { return Ok(None) };
        let page = fetch_page::<T>(&client, op, pages, request.clone()).await?;
        cursor.next = next_request(pages, request, &page, &mut cursor.tokens);
        Ok(Some(page))
    }

    /// Read every remaining item (stops at the first error).
    pub async fn try_collect(mut self) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(item) = self.try_next().await? {
            all.push(item);
        }
        Ok(all)
    }

    /// Whole pages instead of items, each with its next-page cursor.
    pub fn pages(self) -> PageStream<R, T> {
        PageStream { inner: self }
    }

    /// The items as a `futures::Stream`, for stream combinators.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<T>> + Send
    where
        R: Send,
    {
        futures::stream::try_unfold(
            self,
            |mut pages| async move { Ok(pages.try_next().await?.map(|item| (item, pages))) },
        )
    }
}

/// The pages of a list operation, one request each.
#[must_use = "a page stream does nothing until it is read"]
#[derive(Debug)]
pub struct PageStream<R, T> {
    inner: Paginator<R, T>,
}

impl<R: Request, T: DeserializeOwned + Send + 'static> PageStream<R, T> {
    /// The next page; `None` after the last.
    pub async fn try_next(&mut self) -> Result<Option<Page<T>>> {
        self.inner.next_page().await
    }
}

/// Fetch and decode one page.
async fn fetch_page<T: DeserializeOwned>(
    client: &Client,
    op: &Operation,
    pages: &Pages,
    request: Map<String, Value>,
) -> Result<Page<T>> {
    let response = execute(client, op, request, None).await?;
    let body = response.bytes();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Page { items: Vec::new(), next: None });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    PageSeed { pages, _item: PhantomData }
        .deserialize(&mut de)
        .and_then(|page| de.end().map(|()| page))
        .map_err(|e| Error::decode(format!("cannot decode a page of {} {}: {e}", op.method, op.path)).with_source(e))
}

/// The request for the page after `page`, if there is one. A token the
/// server already sent ends the listing instead of looping forever.
fn next_request<T>(
    pages: &Pages,
    mut request: Map<String, Value>,
    page: &Page<T>,
    seen: &mut HashSet<String>,
) -> Option<Map<String, Value>> {
    match (pages.style, pages.request_field) {
        (PageStyle::Token, Some(field)) => {
            let token = page.next_page_token()?;
            if !seen.insert(token.to_string()) {
                return None;
            }
            request.insert(field.to_string(), Value::String(token.to_string()));
            Some(request)
        }
        (PageStyle::Offset, Some(field)) if !page.items.is_empty() => {
            let next = if field == "startIndex" {
                let current = request.get(field).and_then(Value::as_i64).unwrap_or(1);
                current.saturating_add(i64::try_from(page.items.len()).unwrap_or(i64::MAX))
            } else {
                // Legacy listings number their pages from 1.
                request.get(field).and_then(Value::as_i64).unwrap_or(1).saturating_add(1)
            };
            request.insert(field.to_string(), Value::from(next));
            Some(request)
        }
        (PageStyle::NextRequest, _) => match &page.next {
            Some(Value::Object(next)) if !next.is_empty() => {
                if !seen.insert(Value::Object(next.clone()).to_string()) {
                    return None;
                }
                Some(next.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

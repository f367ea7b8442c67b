//! Fault injection and the per-principal rate limit, as axum middleware.
//!
//! Faults are drawn from one seeded random source, so the same seed and the
//! same request order give the same faults. A fault "before" the handler
//! changes nothing; "after" it the change is applied and the answer lost or
//! replaced: the case that duplicates a blindly retried POST.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;
use crate::settings::{Fault, FaultRule, FaultSettings, Phase};
use crate::state::{AppState, Counters};

/// The rules in force, the random source and the rate-limit buckets.
#[derive(Debug)]
pub struct FaultEngine {
    inner: Mutex<Inner>,
    /// Whether any rule, or a rate limit, is in force: read on every request
    /// without the lock (a lock both workers take is a cache line they pass
    /// back and forth), written only when the settings change.
    has_rules: AtomicBool,
    limits_rate: AtomicBool,
}

#[derive(Debug)]
struct Inner {
    settings: FaultSettings,
    rng: fastrand::Rng,
    buckets: HashMap<String, Bucket>,
    injected: BTreeMap<String, u64>,
    /// Faults by kind and request (`"drop_connection POST /api/2.2/jobs/create"`),
    /// so a client's failures can be traced to faults on the same call.
    injected_by_request: BTreeMap<String, u64>,
    /// Times each rule (by index) has fired, for rules with a `times` limit.
    fired: Vec<u64>,
}

/// Buckets kept before idle ones are dropped. A bucket left alone for a
/// second is full again, the same as a new one, so dropping it changes no
/// answer; the map holds only principals active in the last second.
const MAX_IDLE_BUCKETS: usize = 256;

/// Distinct requests counted in `injected_by_request`; later ones go under
/// one key, so the map cannot grow with history (paths carry ids).
const MAX_REQUEST_KEYS: usize = 1024;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

impl FaultEngine {
    pub fn new(settings: FaultSettings) -> Self {
        FaultEngine {
            has_rules: AtomicBool::new(!settings.rules.is_empty()),
            limits_rate: AtomicBool::new(limits_rate(&settings)),
            inner: Mutex::new(Inner {
                rng: fastrand::Rng::with_seed(settings.seed),
                settings,
                buckets: HashMap::new(),
                injected: BTreeMap::new(),
                injected_by_request: BTreeMap::new(),
                fired: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replace the rules (and reseed) at run time.
    pub fn set(&self, settings: FaultSettings) {
        let mut inner = self.lock();
        self.has_rules.store(!settings.rules.is_empty(), Ordering::Relaxed);
        self.limits_rate.store(limits_rate(&settings), Ordering::Relaxed);
        inner.rng = fastrand::Rng::with_seed(settings.seed);
        inner.settings = settings;
        inner.buckets.clear();
        inner.fired.clear();
    }

    /// Whether any fault rule is in force.
    fn has_rules(&self) -> bool {
        self.has_rules.load(Ordering::Relaxed)
    }

    /// The rules in force.
    pub fn settings(&self) -> FaultSettings {
        self.lock().settings.clone()
    }

    /// Faults injected so far, by kind and phase.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.lock().injected.clone()
    }

    /// Faults injected so far, by kind and request (both phases).
    pub fn stats_by_request(&self) -> BTreeMap<String, u64> {
        self.lock().injected_by_request.clone()
    }

    /// Draw a fault for this request and phase, if any rule fires.
    fn draw(&self, method: &str, path: &str, query: &str, phase: Phase) -> Option<Fault> {
        let mut inner = self.lock();
        let Inner { settings, rng, injected, injected_by_request, fired, .. } = &mut *inner;
        fired.resize(settings.rules.len(), 0);
        let (index, rule) = settings
            .rules
            .iter()
            .enumerate()
            .filter(|(i, r)| applies(r, method, path, query, phase) && r.times.is_none_or(|t| fired[*i] < t))
            .find(|(_, r)| rng.f64() < r.probability)?;
        fired[index] += 1;
        let key = format!("{}:{:?}", fault_name(&rule.fault), phase).to_lowercase();
        *injected.entry(key).or_default() += 1;
        let mut by_request = format!("{} {method} {path}", fault_name(&rule.fault));
        if injected_by_request.len() >= MAX_REQUEST_KEYS && !injected_by_request.contains_key(&by_request) {
            by_request = format!("{} (other requests)", fault_name(&rule.fault));
        }
        *injected_by_request.entry(by_request).or_default() += 1;
        Some(rule.fault.clone())
    }

    /// False when `principal` has used up its requests for this second.
    fn admit(&self, principal: &str) -> bool {
        if !self.limits_rate.load(Ordering::Relaxed) {
            return true;
        }
        let mut inner = self.lock();
        let Some(rate) = inner.settings.rate_limit_per_principal.filter(|r| *r > 0) else {
            return true;
        };
        let rate = f64::from(rate);
        let now = Instant::now();
        if inner.buckets.len() >= MAX_IDLE_BUCKETS {
            inner.buckets.retain(|_, b| now.duration_since(b.refreshed) < Duration::from_secs(1));
        }
        let bucket = inner.buckets.entry(principal.to_string()).or_insert(Bucket { tokens: rate, refreshed: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.refreshed).as_secs_f64() * rate).min(rate);
        bucket.refreshed = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn limits_rate(settings: &FaultSettings) -> bool {
    settings.rate_limit_per_principal.is_some_and(|r| r > 0)
}

fn applies(rule: &FaultRule, method: &str, path: &str, query: &str, phase: Phase) -> bool {
    rule.phase == phase
        && path.starts_with(&rule.path_prefix)
        && rule.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
        && rule.query.as_deref().is_none_or(|q| query.contains(q))
}

fn fault_name(fault: &Fault) -> &'static str {
    match fault {
        Fault::TooManyRequests { .. } => "too_many_requests",
        Fault::Unavailable => "unavailable",
        Fault::InternalError => "internal_error",
        Fault::DropConnection => "drop_connection",
        Fault::TruncateBody { .. } => "truncate_body",
        Fault::Latency { .. } => "latency",
    }
}

/// Paths that are never throttled or faulted: the admin API.
fn is_exempt(path: &str) -> bool {
    path.starts_with("/__admin")
}

/// The rate limit, applied by authentication once it knows who is calling:
/// one bucket per authenticated principal, so a user's several tokens share
/// one allowance and made-up tokens are refused as unauthenticated without a
/// bucket of their own. Requests no principal made (discovery, the token
/// endpoint, presigned storage URLs) are not limited. The 429 to send, if
/// `principal` is over its rate.
pub fn over_rate(state: &AppState, principal: &str) -> Option<Response> {
    if state.faults.admit(principal) {
        return None;
    }
    Counters::bump(&state.counters.rate_limited);
    let refusal = ApiError::new(
        429,
        "REQUEST_LIMIT_EXCEEDED",
        "Request rate limit exceeded for this principal. Please try again later.",
    );
    Some(refusal.with_retry_after(1).into_response())
}

/// The middleware: count and inject faults around the handler.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    Counters::bump(&state.counters.requests);
    // Most runs have no rules: no request's path is copied for them.
    if !state.faults.has_rules() || is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    let method = request.method().as_str().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    if let Some(fault) = state.faults.draw(&method, &path, &query, Phase::Before) {
        Counters::bump(&state.counters.faults_before);
        if let Some(response) = apply(fault).await {
            return response;
        }
    }
    let response = next.run(request).await;
    if let Some(fault) = state.faults.draw(&method, &path, &query, Phase::After) {
        Counters::bump(&state.counters.faults_after);
        if let Fault::TruncateBody { after_bytes } = fault {
            return truncated(response, after_bytes);
        }
        if let Some(replaced) = apply(fault).await {
            return replaced;
        }
    }
    response
}

/// The response a fault produces (`None` for latency: carry on after the wait).
async fn apply(fault: Fault) -> Option<Response> {
    match fault {
        Fault::Latency { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        Fault::TooManyRequests { retry_after_secs } => Some(
            ApiError::new(429, "REQUEST_LIMIT_EXCEEDED", "RPC token bucket limit has been exceeded.")
                .with_retry_after(retry_after_secs)
                .into_response(),
        ),
        Fault::Unavailable => Some(
            ApiError::new(503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable.")
                .with_retry_after(1)
                .into_response(),
        ),
        Fault::InternalError => Some(ApiError::new(500, "INTERNAL_ERROR", "Injected internal error.").into_response()),
        Fault::DropConnection => Some(dropped()),
        // Only meaningful on an answer that exists: see `truncated`.
        Fault::TruncateBody { .. } => Some(dropped()),
    }
}

/// The answer's status and headers (its `Content-Length` too), then
/// `after_bytes` of its body, then the connection fails.
fn truncated(response: Response, after_bytes: u64) -> Response {
    use futures::StreamExt;
    let (parts, body) = response.into_parts();
    let mut left = after_bytes;
    let head = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        if left == 0 {
            return Err(std::io::Error::other("injected drop mid-body"));
        }
        let keep = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
        left -= keep as u64;
        Ok(chunk.slice(..keep))
    });
    // After the kept bytes the stream fails even if the body had no more chunks.
    let failing = futures::stream::once(async { Err(std::io::Error::other("injected drop mid-body")) });
    let body = head.take_while(|r| futures::future::ready(r.is_ok())).chain(failing);
    Response::from_parts(parts, Body::from_stream(body))
}

/// Headers go out, then the body fails: the client sees the connection die.
fn dropped() -> Response {
    let failing =
        futures::stream::once(async { Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("injected drop")) });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(failing))
        .unwrap_or_else(|_| ApiError::new(500, "INTERNAL_ERROR", "drop").into_response())
}

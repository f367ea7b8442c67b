//! Client-side rate limits, shared by every clone of a client.
//!
//! Two limits pace requests through one scheduler, a mirror of the token
//! bucket servers keep per caller (GCRA: each caller books the earliest slot
//! the bucket allows, then sleeps until it; callers keep their arrival order
//! and no background task is needed):
//!
//! - the static cap (`rate_limit`): never more than N requests per second,
//!   evenly spaced;
//! - the adaptive limit (`adaptive_rate_limit`, on by default): nothing at all
//!   until the server answers 429; then a bucket as large as the rate the
//!   server was seen to admit in the last second, refilled at that rate,
//!   raised a few percent per second while callers queue for it, and cut by a
//!   tenth on each new 429 (additive-increase/multiplicative-decrease, as TCP
//!   paces itself). A quiet minute without 429 lifts it.
//!
//! A 429 still waits out its own `Retry-After` in the retry loop, as the
//! official SDKs do. Because the mirror refills while those callers wait, the
//! server's refilled bucket is used at once when they come back: the wait
//! costs no throughput, and the other callers no longer run into the wall.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Fraction of the rate kept after a 429 at the learnt pace.
const DECREASE: f64 = 0.9;
/// Fraction of the rate the server was seen to admit that a 429 falls back to.
const FIRST_ESTIMATE: f64 = 0.95;
/// Relative rate increase per second while callers queue for slots.
const GROWTH_PER_SECOND: f64 = 0.02;
/// The adaptive rate never falls below this share of the most the server
/// was seen to admit in a second since the limit engaged.
const FLOOR_OF_PEAK: f64 = 0.5;
/// The slowest pace the adaptive limit falls to (requests per second).
const MIN_RATE: f64 = 1.0;
/// Without a 429 for this long, the adaptive limit is lifted.
const QUIET: Duration = Duration::from_secs(60);
/// Admitted requests are counted in `WINDOWS` windows of `WINDOW_MS`: the
/// count over the last second is the first estimate of the server's rate.
const WINDOWS: usize = 10;
const WINDOW_MS: u64 = 100;

/// Which pace let a request through: [`RateLimiter::observe`] uses it to
/// tell a 429 earned by the current pace from an echo of one already acted on.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
}

/// Paces the requests of a client: a static cap, an adaptive limit, or both.
#[derive(Debug)]
pub struct RateLimiter {
    /// Smallest gap between two requests under the static cap.
    cap: Option<Duration>,
    adaptive: bool,
    /// Fast path: false while neither limit paces anything.
    pacing: AtomicBool,
    /// Bumped on every cut of the adaptive rate.
    generation: AtomicU64,
    state: Mutex<State>,
    admitted: AdmittedCounter,
}

#[derive(Debug)]
struct State {
    /// GCRA's theoretical arrival time: when the bucket is full again.
    full_at: Option<Instant>,
    /// The latest slot handed out: callers may still be sleeping until it.
    last_slot: Option<Instant>,
    /// The adaptive rate in requests per second, once a 429 was seen.
    rate: Option<f64>,
    throttled_at: Option<Instant>,
    grown_at: Instant,
    /// The most the server admitted in a second since the limit engaged.
    peak_admitted: f64,
}

impl RateLimiter {
    /// A limiter with the static cap `per_second` (if any) and, if
    /// `adaptive`, the limit learnt from the server's 429s.
    pub fn new(per_second: Option<u32>, adaptive: bool) -> Self {
        let cap = per_second.map(|r| Duration::from_secs(1) / r.max(1));
        RateLimiter {
            cap,
            adaptive,
            pacing: AtomicBool::new(cap.is_some()),
            generation: AtomicU64::new(0),
            state: Mutex::new(State {
                full_at: None,
                last_slot: None,
                rate: None,
                throttled_at: None,
                grown_at: Instant::now(),
                peak_admitted: 0.0,
            }),
            admitted: AdmittedCounter::new(),
        }
    }

    /// The adaptive rate currently applied, in requests per second (`None`
    /// while the server has not pushed back).
    pub fn adaptive_rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// Wait for this caller's slot.
    pub async fn acquire(&self) -> Ticket {
        let generation = self.generation.load(Ordering::Acquire);
        if self.pacing.load(Ordering::Acquire) {
            let slot = self.book(Instant::now());
            tokio::time::sleep_until(slot).await;
        }
        Ticket { generation }
    }

    /// Learn from the HTTP status answering a request let through by
    /// `ticket`, and its `Retry-After` header if any. A 429 that asks for no
    /// wait at all (`Retry-After: 0`) says the server has room: it teaches
    /// nothing about its rate.
    pub fn observe(&self, ticket: Ticket, status: u16, retry_after: Option<&str>) {
        if !self.adaptive {
            return;
        }
        if status == 429 {
            if retry_after.is_some_and(|v| v.trim() == "0") {
                return;
            }
            self.throttled(ticket, Instant::now());
        } else {
            self.admitted.add(Instant::now());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state whole: a panic elsewhere while it was
        // held cannot leave it half-done.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Book the earliest slot at or after `now` the bucket allows.
    fn book(&self, now: Instant) -> Instant {
        let mut state = self.lock();
        if state.throttled_at.is_some_and(|at| now.duration_since(at) >= QUIET) {
            state.rate = None;
            state.throttled_at = None;
            state.peak_admitted = 0.0;
            self.pacing.store(self.cap.is_some(), Ordering::Release);
        }
        let (interval, tolerance) = self.pace(&state);
        let full_at = state.full_at.map_or(now, |t| t.max(now));
        let slot = (full_at - tolerance).max(now);
        state.full_at = Some(full_at + interval);
        state.last_slot = Some(state.last_slot.map_or(slot, |last| last.max(slot)));
        if let Some(rate) = state.rate {
            // Raise the pace only while callers queue for it: a rate nobody
            // uses says nothing about what the server would admit.
            let elapsed = now.duration_since(state.grown_at).as_secs_f64().min(1.0);
            if slot > now {
                state.rate = Some(rate * (1.0 + GROWTH_PER_SECOND * elapsed));
            }
            state.grown_at = now;
        }
        slot
    }

    /// The gap between requests and the burst the bucket allows on top.
    fn pace(&self, state: &State) -> (Duration, Duration) {
        let cap = self.cap.unwrap_or(Duration::ZERO);
        match state.rate {
            // A bucket holding one second of requests, as the server's does.
            Some(rate) => {
                let interval = Duration::from_secs_f64(1.0 / rate).max(cap);
                let burst =
                    if cap.is_zero() { Duration::from_secs(1).saturating_sub(interval) } else { Duration::ZERO };
                (interval, burst)
            }
            None => (cap, Duration::ZERO),
        }
    }

    fn throttled(&self, ticket: Ticket, now: Instant) {
        let mut state = self.lock();
        if self.generation.load(Ordering::Acquire) != ticket.generation {
            return;
        }
        // What the server admitted in the last second is its rate as far as
        // this client can tell; a bucket that was overrun at a learnt pace
        // also takes a tenth off that pace. Half the best second seen is the
        // floor: 429s that come whatever the pace (another caller's burst, a
        // per-endpoint limit) must not wear the pace down to nothing.
        let admitted = self.admitted.last_second(now) as f64;
        state.peak_admitted = state.peak_admitted.max(admitted);
        let rate =
            state.rate.map_or(admitted * FIRST_ESTIMATE, |rate| (admitted * FIRST_ESTIMATE).max(rate * DECREASE));
        state.rate = Some(rate.max(state.peak_admitted * FLOOR_OF_PEAK).max(MIN_RATE));
        state.throttled_at = Some(now);
        state.grown_at = now;
        // The server's bucket is empty now: so is the mirror. The slots already
        // handed out are still to come, so the new pace starts after them, not
        // beside them (callers sleeping until their slots would double the rate).
        let (interval, tolerance) = self.pace(&state);
        let booked_until = state.last_slot.map_or(now, |last| last.max(now));
        state.full_at = Some(booked_until + tolerance + interval);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.pacing.store(true, Ordering::Release);
        tracing::debug!(rate = state.rate, "throttled by the server: pacing requests");
    }
}

/// Requests admitted in the last second, counted in lock-free windows.
#[derive(Debug)]
struct AdmittedCounter {
    start: Instant,
    /// Each window holds `(window number << 24) | count`.
    windows: [AtomicU64; WINDOWS],
}

const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

impl AdmittedCounter {
    fn new() -> Self {
        AdmittedCounter { start: Instant::now(), windows: std::array::from_fn(|_| AtomicU64::new(0)) }
    }

    fn window_of(&self, now: Instant) -> u64 {
        // Offset by one so the zeroed initial windows count as stale.
        (now.duration_since(self.start).as_millis() as u64) / WINDOW_MS + 1
    }

    fn add(&self, now: Instant) {
        let number = self.window_of(now);
        let slot = &self.windows[(number % WINDOWS as u64) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let next = if current >> COUNT_BITS == number {
                current + u64::from((current & COUNT_MASK) < COUNT_MASK)
            } else {
                (number << COUNT_BITS) | 1
            };
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    fn last_second(&self, now: Instant) -> u64 {
        let number = self.window_of(now);
        self.windows
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .filter(|w| number.saturating_sub(w >> COUNT_BITS) < WINDOWS as u64)
            .map(|w| w & COUNT_MASK)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_static_cap_spaces_requests_evenly() {
        let limiter = RateLimiter::new(Some(10), false);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // With paused time the clock advances exactly by the slept amount.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn the_adaptive_limit_waits_for_nothing_until_the_server_pushes_back() {
        let limiter = RateLimiter::new(None, true);
        let start = Instant::now();
        for _ in 0..1000 {
            let ticket = limiter.acquire().await;
            limiter.observe(ticket, 200, None);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(limiter.adaptive_rate(), None);
    }

    /// A token bucket as Databricks keeps one per caller: `rate` per second,
    /// holding at most one second of requests.
    struct Bucket {
        rate: f64,
        tokens: f64,
        at: Instant,
    }

    impl Bucket {
        fn admit(&mut self, now: Instant) -> bool {
            self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    /// `callers` callers deleting 2,000 things through one limiter against a
    /// bucket of 200/s, each request `latency` on the wire and a 429 waited
    /// out for its `Retry-After` of 1 s: the seconds taken and the 429s met.
    async fn bulk_against_a_bucket(callers: u64, latency: Duration) -> (f64, u64) {
        let limiter = std::sync::Arc::new(RateLimiter::new(None, true));
        let bucket = std::sync::Arc::new(Mutex::new(Bucket { rate: 200.0, tokens: 200.0, at: Instant::now() }));
        let throttled = std::sync::Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let workers = (0..callers).map(|_| {
            let (limiter, bucket, throttled) = (limiter.clone(), bucket.clone(), throttled.clone());
            tokio::spawn(async move {
                for _ in 0..2000 / callers {
                    loop {
                        let ticket = limiter.acquire().await;
                        tokio::time::sleep(latency).await;
                        let admitted = bucket.lock().map(|mut b| b.admit(Instant::now())).unwrap_or(false);
                        limiter.observe(ticket, if admitted { 200 } else { 429 }, Some("1"));
                        if admitted {
                            break;
                        }
                        throttled.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            })
        });
        for worker in workers.collect::<Vec<_>>() {
            worker.await.expect("worker");
        }
        (start.elapsed().as_secs_f64(), throttled.load(Ordering::Relaxed))
    }

    #[tokio::test(start_paused = true)]
    async fn the_adaptive_limit_settles_just_under_the_server_rate_with_few_429s() {
        // The least possible: the first second's 200 at once, the rest at 200/s.
        let least = 1800.0 / 200.0;
        for (callers, latency_ms) in [(16, 2), (32, 1), (50, 3)] {
            let (elapsed, throttled) = bulk_against_a_bucket(callers, Duration::from_millis(latency_ms)).await;
            let case = format!("{callers} callers, {latency_ms} ms each");
            assert!(elapsed <= least * 1.1, "{case}: took {elapsed:.2}s, least {least:.2}s");
            // The first wave (every caller in flight meets the empty bucket) and hardly more:
            // a cut that paced new callers beside those already booked met twice as many.
            assert!(throttled <= callers + 5, "{case}: {throttled} answers of 429 for 2,000 requests");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_wave_of_429s_cuts_the_rate_once() {
        let limiter = RateLimiter::new(None, true);
        let tickets: Vec<Ticket> = futures::future::join_all((0..100).map(|_| limiter.acquire())).await;
        for ticket in &tickets {
            limiter.observe(*ticket, 200, None);
        }
        let in_flight = limiter.acquire().await;
        limiter.observe(in_flight, 429, Some("1"));
        let first = limiter.adaptive_rate().expect("limited after a 429");
        assert!((first - 95.0).abs() < 1e-9, "{first}");
        // Requests sent before the cut meet the same congestion: no second cut.
        limiter.observe(in_flight, 429, Some("1"));
        assert_eq!(limiter.adaptive_rate(), Some(first));
        // A 429 at the new pace, when the server has admitted nothing for a
        // while, takes a tenth off.
        tokio::time::advance(Duration::from_secs(2)).await;
        let paced = limiter.acquire().await;
        limiter.observe(paced, 429, None);
        let second = limiter.adaptive_rate().expect("still limited");
        assert!((second - first * DECREASE).abs() < 1e-9, "{second}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_static_cap_bounds_the_adaptive_rate_and_a_quiet_minute_lifts_it() {
        let limiter = RateLimiter::new(Some(5), true);
        let ticket = limiter.acquire().await;
        limiter.observe(ticket, 429, None);
        assert_eq!(limiter.adaptive_rate(), Some(MIN_RATE));
        tokio::time::sleep(QUIET).await;
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(limiter.adaptive_rate(), None);
        assert_eq!(start.elapsed(), Duration::from_millis(400), "paced by the cap of 5/s alone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_asking_for_no_wait_teaches_nothing_and_pace_blind_429s_do_not_wear_it_down() {
        let limiter = RateLimiter::new(None, true);
        let ticket = limiter.acquire().await;
        limiter.observe(ticket, 429, Some("0"));
        assert_eq!(limiter.adaptive_rate(), None, "Retry-After: 0 is room, not a limit");

        // 100 requests a second for two seconds, then one in 25 answered 429
        // whatever the pace.
        for n in 1..=2000u32 {
            let ticket = limiter.acquire().await;
            let throttled = n > 200 && n % 25 == 0;
            limiter.observe(ticket, if throttled { 429 } else { 200 }, Some("1"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let rate = limiter.adaptive_rate().expect("engaged");
        assert!(rate >= 45.0, "the pace wore down to {rate:.1}/s");
    }
}

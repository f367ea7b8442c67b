//! Client-side rate limit: requests are spaced evenly, `1 / rate` apart.
//!
//! A reservation scheme (each caller books the next free slot, then sleeps
//! until it) keeps callers in arrival order and needs no background task.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces requests at most `per_second` per second across all clones of a client.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` requests per second (at least 1).
    pub fn new(per_second: u32) -> Self {
        RateLimiter { interval: Duration::from_secs(1) / per_second.max(1), next_slot: Mutex::new(None) }
    }

    /// Wait for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly() {
        let limiter = RateLimiter::new(10);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // With paused time the clock advances exactly by the slept amount.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }
}

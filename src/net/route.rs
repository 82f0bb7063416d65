//! What protects each arkouda_server behind the proxy, and how the routes
//! of [`crate::arkouda::route`] are built over [`UpstreamBackend`]s:
//!
//! - [`InflightLimit`]: a counting semaphore shared by every route to one
//!   upstream address, so at most `max` calls are in flight to that
//!   arkouda_server whichever event loop, worker or route they came from;
//!   beyond it a call waits within its deadline and is never sent if the
//!   deadline passes first.
//! - `ConnectThrottle`: while an upstream is struggling (a connection attempt
//!   failed, or a connection broke), connection attempts are at least a
//!   growing, bounded interval apart, one at a time; the first answered call
//!   ends it.
//! - [`build_router`]: one [`UpstreamBackend`] (pool, deadline, backoff)
//!   and one handler (dispatcher) per route.

use std::collections::HashMap;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::upstream::{UpstreamBackend, UpstreamConfig};
use crate::arkouda::proxy::{Backend, BackendError};
use crate::arkouda::route::{
    Reachability, RouteSpec, RouteTable, RouteTarget, Router, Upstream, DEFAULT_ROUTE,
};
use crate::arkouda::service::Handler;
use crate::arkouda::upstream_msg::Reply;
use crate::proto::ArkoudaRequest;

/// At most `max` calls in flight at once, however many threads ask; see
/// the module docs.
#[derive(Debug)]
pub struct InflightLimit {
    max: usize,
    in_flight: Mutex<usize>,
    freed: Condvar,
    peak: AtomicUsize,
}

/// One call's place under an [`InflightLimit`]; dropping it frees the place.
#[derive(Debug)]
pub struct Permit<'a> {
    limit: &'a InflightLimit,
}

impl InflightLimit {
    /// A limit of `max` calls (at least 1).
    pub fn new(max: usize) -> Self {
        InflightLimit {
            max: max.max(1),
            in_flight: Mutex::new(0),
            freed: Condvar::new(),
            peak: AtomicUsize::new(0),
        }
    }

    /// The most calls in flight at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        *self.lock()
    }

    /// The most calls that were ever in flight at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        // A count is never left half-changed: carry on after a panic elsewhere.
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one call, waiting for one until `deadline`; `None` if
    /// none became free by then.
    pub fn acquire(&self, deadline: Instant) -> Option<Permit<'_>> {
        let mut n = self.lock();
        while *n >= self.max {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            n = self
                .freed
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *n += 1;
        self.peak.fetch_max(*n, Ordering::Relaxed);
        Some(Permit { limit: self })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut n = self.limit.lock();
        *n = n.saturating_sub(1);
        drop(n);
        self.limit.freed.notify_one();
    }
}

/// When the next connection attempt to an upstream may start; see the
/// module docs. Time is passed in, so it is tested without sleeping.
#[derive(Clone, Debug)]
pub(crate) struct ConnectThrottle {
    initial: Duration,
    max: Duration,
    /// Zero while the upstream is healthy: attempts are not throttled.
    interval: Duration,
    next_at: Option<Instant>,
    reach: Reachability,
}

impl ConnectThrottle {
    /// Intervals from `initial`, doubling to `max` (at least `initial`).
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        ConnectThrottle {
            initial,
            max: max.max(initial),
            interval: Duration::ZERO,
            next_at: None,
            reach: Reachability::Unknown,
        }
    }

    /// Whether an attempt may start at `now`; if so, while throttled, the
    /// next one may not start before `now` plus the interval.
    pub(crate) fn permit(&mut self, now: Instant) -> bool {
        if self.next_at.is_some_and(|at| now < at) {
            return false;
        }
        if !self.interval.is_zero() {
            self.next_at = Some(now + self.interval);
        }
        true
    }

    /// An attempt failed or a connection broke at `now`: the interval
    /// grows and counts from now.
    pub(crate) fn failed(&mut self, now: Instant) {
        self.interval = if self.interval.is_zero() {
            self.initial
        } else {
            self.interval.saturating_mul(2)
        }
        .min(self.max);
        self.next_at = Some(now + self.interval);
        self.reach = Reachability::Unreachable;
    }

    /// A connection attempt succeeded; the interval stays until a call is
    /// answered (an upstream that accepts and then drops stays throttled).
    pub(crate) fn connected(&mut self) {
        self.reach = Reachability::Reachable;
    }

    /// A call was answered: the upstream is healthy again.
    pub(crate) fn answered(&mut self) {
        self.interval = Duration::ZERO;
        self.next_at = None;
        self.reach = Reachability::Reachable;
    }

    /// What the attempts so far say.
    pub(crate) fn reachability(&self) -> Reachability {
        self.reach
    }
}

impl Backend for Arc<UpstreamBackend> {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<String, BackendError> {
        UpstreamBackend::execute(self, request, deadline)
    }

    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<Reply, BackendError> {
        UpstreamBackend::execute_reply(self, request, deadline)
    }

    fn execute_streaming(
        &self,
        request: &ArkoudaRequest,
        upload: Option<&crate::arkouda::pipe::Upload>,
        sink: &mut crate::arkouda::proxy::ReplySink,
        deadline: Option<Instant>,
    ) -> Result<Option<Reply>, BackendError> {
        UpstreamBackend::execute_streaming(self, request, upload, sink, deadline)
    }

    fn may_block(&self, request: &ArkoudaRequest) -> bool {
        UpstreamBackend::may_block(self, request)
    }
}

impl Upstream for UpstreamBackend {
    fn reachability(&self) -> Reachability {
        UpstreamBackend::reachability(self)
    }

    fn address(&self) -> &str {
        &self.config().address
    }
}

/// Builds a [`Router`]: a route per `routes` item, and the default route
/// to `default` when given. Each route gets an [`UpstreamBackend`] of its
/// own, configured as `base` with the route's address and overrides, and
/// a handler of its own from `proxy` (its dispatcher). Routes to the same
/// address (as written, `tcp://` aside) share one [`InflightLimit`], the
/// smallest any of them asks for.
pub fn build_router<F>(
    base: &UpstreamConfig,
    default: Option<&str>,
    routes: &[RouteSpec],
    mut proxy: F,
) -> Result<Router, String>
where
    F: FnMut(Arc<UpstreamBackend>) -> Result<Arc<dyn Handler>, String>,
{
    let mut configs = std::vec::Vec::new();
    for spec in routes {
        let mut config = UpstreamConfig {
            route: Some(spec.users.as_str().to_string()),
            ..base.clone()
        }
        .at(&spec.upstream);
        let o = spec.overrides;
        if let Some(n) = o.pool {
            config.pool_size = n;
        }
        if let Some(ms) = o.timeout_ms {
            config.default_deadline = Duration::from_millis(ms);
        }
        if let Some(n) = o.max_inflight {
            config.max_inflight = n;
        }
        configs.push((Some(spec), config));
    }
    if let Some(address) = default {
        let route = (!routes.is_empty()).then(|| DEFAULT_ROUTE.to_string());
        configs.push((
            None,
            UpstreamConfig {
                route,
                ..base.clone()
            }
            .at(address),
        ));
    }
    let mut limits: HashMap<String, usize> = HashMap::new();
    for (_, c) in &configs {
        let max = limits.entry(c.address.clone()).or_insert(c.max_inflight);
        *max = (*max).min(c.max_inflight);
    }
    let limits: HashMap<String, Arc<InflightLimit>> = limits
        .into_iter()
        .map(|(address, max)| (address, Arc::new(InflightLimit::new(max))))
        .collect();
    let mut table = RouteTable::new();
    for (spec, config) in configs {
        let limit = limits
            .get(&config.address)
            .cloned()
            .unwrap_or_else(|| Arc::new(InflightLimit::new(config.max_inflight)));
        let backend = Arc::new(UpstreamBackend::with_inflight_limit(config, limit));
        let target = RouteTarget {
            handler: proxy(backend.clone())?,
            upstream: Some(backend),
        };
        match spec {
            Some(spec) => table.add(spec.users.clone(), target)?,
            None => table.set_default(target),
        }
    }
    Ok(Router::new(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn attempts_are_a_growing_bounded_interval_apart_while_failing() {
        let mut t = ConnectThrottle::new(100 * MS, 800 * MS);
        let t0 = Instant::now();
        assert_eq!(t.reachability(), Reachability::Unknown);
        // Healthy: attempts are not throttled, several at once.
        assert!(t.permit(t0) && t.permit(t0));
        let mut now = t0;
        let mut gaps = std::vec::Vec::new();
        let mut last = t0;
        for _ in 0..8 {
            t.failed(now);
            assert_eq!(t.reachability(), Reachability::Unreachable);
            // Nothing may start before the interval, then exactly one may.
            let mut probe = now;
            while !t.permit(probe) {
                probe += MS;
            }
            assert!(!t.permit(probe), "one attempt at a time");
            gaps.push((probe - last).as_millis());
            last = probe;
            now = probe;
        }
        assert_eq!(gaps, [100, 200, 400, 800, 800, 800, 800, 800]);
        t.connected();
        assert_eq!(t.reachability(), Reachability::Reachable);
        assert!(
            !t.permit(now + 100 * MS),
            "still throttled until a call is answered"
        );
        t.answered();
        assert!(t.permit(now) && t.permit(now));
        t.failed(now);
        assert!(t.permit(now + 100 * MS), "the interval starts over");
    }

    #[test]
    fn the_limit_holds_across_threads_and_a_late_call_gives_up() {
        let limit = Arc::new(InflightLimit::new(2));
        let held: std::vec::Vec<_> = (0..2)
            .map(|_| limit.acquire(Instant::now()).expect("a free place"))
            .collect();
        assert_eq!(limit.in_flight(), 2);
        let started = Instant::now();
        assert!(limit.acquire(started + 50 * MS).is_none());
        assert!(started.elapsed() >= 50 * MS);
        let waiter = {
            let limit = limit.clone();
            std::thread::spawn(move || {
                let p = limit.acquire(Instant::now() + Duration::from_secs(30));
                p.is_some()
            })
        };
        drop(held);
        assert!(waiter.join().unwrap());
        assert_eq!(limit.in_flight(), 0);
        assert_eq!(limit.peak(), 2);
        assert_eq!(InflightLimit::new(0).max(), 1);
    }
}

//! What operators scrape at `GET /metrics` (Prometheus text format): HTTP
//! requests by route template and status with their latency, recipient
//! bookings by outcome, availability queries, and — read from the database
//! at scrape time — the outbox (pending deliveries and the age of the oldest
//! per kind), deliveries by state and the connection pool.
//!
//! Routes are labelled by their template (`/v1/calendars/{calendar_id}/events`),
//! never by the raw path, so ids cannot blow up the number of series.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// This process's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub bookings: Family<OutcomeLabels, Counter>,
    pub availability_queries: Counter,
    pub outbox_pending: Family<KindLabels, Gauge>,
    pub outbox_oldest: Family<KindLabels, Seconds>,
    pub deliveries: Family<StateLabels, Gauge>,
    pub pool_connections: Gauge,
    pub pool_idle: Gauge,
    pub write_turns: Counter,
    pub write_held: Counter<f64, AtomicU64>,
    pub write_waited: Counter<f64, AtomicU64>,
    /// The store's totals as last rendered: counters only move forward by
    /// the difference.
    write_seen: std::sync::Mutex<convene_store::WriteTurns>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("convene");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms … ~4 s
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route template",
            latency.clone(),
        );
        let bookings = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "bookings",
            "Slots picked on recipient pages, by outcome (booked, taken, closed)",
            bookings.clone(),
        );
        let availability_queries = Counter::default();
        registry.register(
            "availability_queries",
            "Availability computations (API queries, slot listings, booking re-checks)",
            availability_queries.clone(),
        );
        let outbox_pending = Family::<KindLabels, Gauge>::default();
        registry.register(
            "outbox_pending",
            "Deliveries waiting to be sent, by kind",
            outbox_pending.clone(),
        );
        let outbox_oldest = Family::<KindLabels, Seconds>::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest delivery waiting, by kind",
            outbox_oldest.clone(),
        );
        let deliveries = Family::<StateLabels, Gauge>::default();
        registry.register(
            "deliveries",
            "Deliveries in the log by state (pending, delivered, failed)",
            deliveries.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Open database connections of this process",
            pool_connections.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections of this process",
            pool_idle.clone(),
        );
        let write_turns = Counter::default();
        registry.register(
            "db_write_turns",
            "Write turns taken by this process (transactions and one-statement writes)",
            write_turns.clone(),
        );
        let write_held = Counter::<f64, AtomicU64>::default();
        registry.register(
            "db_write_turn_held_seconds",
            "Time write turns were held; on SQLite, the single writer's busy time",
            write_held.clone(),
        );
        let write_waited = Counter::<f64, AtomicU64>::default();
        registry.register(
            "db_write_turn_waited_seconds",
            "Time writers waited for a write turn",
            write_waited.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            requests,
            latency,
            bookings,
            availability_queries,
            outbox_pending,
            outbox_oldest,
            deliveries,
            pool_connections,
            pool_idle,
            write_turns,
            write_held,
            write_waited,
            write_seen: Default::default(),
        }))
    }
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.0
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.0
            .latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    pub fn booking(&self, outcome: &str) {
        self.0
            .bookings
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn availability_query(&self) {
        self.0.availability_queries.inc();
    }

    /// Refreshes the database-backed gauges and renders everything.
    pub async fn render(&self, db: &convene_store::Db, now_ms: i64) -> String {
        if let Ok(rows) = db.outbox_summary().await {
            self.0.outbox_pending.clear();
            self.0.outbox_oldest.clear();
            self.0.deliveries.clear();
            for r in rows {
                if r.state == "pending" {
                    let kind = KindLabels {
                        kind: r.kind.clone(),
                    };
                    self.0.outbox_pending.get_or_create(&kind).set(r.count);
                    let age = (now_ms - r.oldest_ms).max(0) as f64 / 1000.0;
                    self.0.outbox_oldest.get_or_create(&kind).set(age);
                }
                self.0
                    .deliveries
                    .get_or_create(&StateLabels { state: r.state })
                    .inc_by(r.count);
            }
        }
        let (size, idle) = db.pool_stats();
        self.0.pool_connections.set(i64::from(size));
        self.0.pool_idle.set(idle as i64);
        let now = db.write_turns();
        if let Ok(mut seen) = self.0.write_seen.lock() {
            self.0
                .write_turns
                .inc_by(now.turns.saturating_sub(seen.turns));
            let held = now.held.saturating_sub(seen.held);
            self.0.write_held.inc_by(held.as_secs_f64());
            let waited = now.waited.saturating_sub(seen.waited);
            self.0.write_waited.inc_by(waited.as_secs_f64());
            *seen = now;
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

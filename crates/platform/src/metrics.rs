//! Prometheus metrics (`GET /metrics`): what this instance counted since it
//! started (HTTP requests and their latency per route, AI requests, tokens
//! and cost per provider, ledger postings, WebSocket connections) and, read
//! when scraped, what every instance shares (queue depths, rounds, breaker
//! states, the relayer's balance).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use alloy::providers::Provider;
use meritree_store::gauges::{self, Counted};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::Platform;

/// The content type of [`Platform::render_metrics`]' text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route's pattern (`/api/v1/rounds/{n}`), never the raw path: one
    /// series per route, whatever callers put in the URL.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AiLabels {
    provider: String,
    model: String,
    /// `ok`, `error` or `cached`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    /// `input` or `output`.
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Every metric of one instance. Cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram>,
    ai_requests: Family<AiLabels, Counter>,
    ai_tokens: Family<TokenLabels, Counter>,
    ai_cost: Family<ProviderLabels, Counter>,
    ai_latency: Family<ProviderLabels, Histogram>,
    ledger_postings: Family<ReasonLabels, Counter>,
    websockets: Gauge,
    // Read from shared state at each scrape.
    outbox: Family<StateLabels, Gauge>,
    rounds: Family<StateLabels, Gauge>,
    evaluation_jobs: Family<StateLabels, Gauge>,
    compute_tasks: Family<StateLabels, Gauge>,
    compute_nodes: Family<StateLabels, Gauge>,
    breakers: Family<ProviderLabels, Gauge>,
    relayer_balance: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("meritree");
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            http_requests.clone(),
        );
        // 1 ms to about 33 s.
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response's head, by route",
            http_duration.clone(),
        );
        let ai_requests = Family::default();
        registry.register(
            "ai_requests",
            "AI requests recorded, by provider, model and outcome",
            ai_requests.clone(),
        );
        let ai_tokens = Family::default();
        registry.register(
            "ai_tokens",
            "Tokens of recorded AI requests, by provider and direction",
            ai_tokens.clone(),
        );
        let ai_cost = Family::default();
        registry.register(
            "ai_cost_nanousd",
            "What recorded AI requests cost, in billionths of a US dollar",
            ai_cost.clone(),
        );
        // 10 ms to about 82 s.
        let ai_latency = Family::<ProviderLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        registry.register(
            "ai_time_to_answer_seconds",
            "From routing to the answer (a stream: to its first output), failovers \
             included, by the provider that answered",
            ai_latency.clone(),
        );
        let ledger_postings = Family::default();
        registry.register(
            "ledger_postings",
            "Points ledger entries written, by reason (replays not counted)",
            ledger_postings.clone(),
        );
        let websockets = Gauge::default();
        registry.register(
            "websocket_connections",
            "Open WebSocket connections on this instance (live events and nodes)",
            websockets.clone(),
        );
        let outbox = Family::default();
        registry.register(
            "outbox_transactions",
            "The platform's chain transactions, by state",
            outbox.clone(),
        );
        let rounds = Family::default();
        registry.register("rounds", "Settlement rounds, by state", rounds.clone());
        let evaluation_jobs = Family::default();
        registry.register(
            "evaluation_jobs",
            "Evaluation jobs, by state",
            evaluation_jobs.clone(),
        );
        let compute_tasks = Family::default();
        registry.register(
            "compute_tasks",
            "Compute network tasks, by state",
            compute_tasks.clone(),
        );
        let compute_nodes = Family::default();
        registry.register(
            "compute_nodes",
            "Compute nodes, by state",
            compute_nodes.clone(),
        );
        let breakers = Family::default();
        registry.register(
            "ai_provider_breaker_state",
            "Each AI provider's circuit breaker here: 0 closed, 1 half open, 2 open, 3 disabled",
            breakers.clone(),
        );
        let relayer_balance = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "relayer_balance_ether",
            "The platform key's native balance, which pays for roots and relayed claims",
            relayer_balance.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            ai_requests,
            ai_tokens,
            ai_cost,
            ai_latency,
            ledger_postings,
            websockets,
            outbox,
            rounds,
            evaluation_jobs,
            compute_tasks,
            compute_nodes,
            breakers,
            relayer_balance,
        }
    }
}

impl Metrics {
    /// One answered HTTP request.
    pub fn http_request(&self, labels: HttpLabels, elapsed: Duration) {
        self.http_duration
            .get_or_create(&RouteLabels {
                method: labels.method.clone(),
                route: labels.route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    /// A WebSocket opened; it counts until the guard is dropped.
    pub fn websocket_opened(&self) -> WebSocketGuard {
        self.websockets.inc();
        WebSocketGuard(self.websockets.clone())
    }

    pub(crate) fn ai_request(&self, record: &crate::ai::UsageRecord) {
        let outcome = match (record.cached, record.ok) {
            (true, _) => "cached",
            (false, true) => "ok",
            (false, false) => "error",
        };
        self.ai_requests
            .get_or_create(&AiLabels {
                provider: record.provider.clone(),
                model: record.model.clone(),
                outcome,
            })
            .inc();
        for (direction, tokens) in [
            ("input", record.input_tokens),
            ("output", record.output_tokens),
        ] {
            self.ai_tokens
                .get_or_create(&TokenLabels {
                    provider: record.provider.clone(),
                    direction,
                })
                .inc_by(tokens);
        }
        if !record.cached {
            self.ai_cost
                .get_or_create(&ProviderLabels {
                    provider: record.provider.clone(),
                })
                .inc_by(record.cost_nanos);
        }
    }

    pub(crate) fn ai_answered(&self, provider: &str, elapsed: Duration) {
        self.ai_latency
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn ledger_posting(&self, reason: &str) {
        self.ledger_postings
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
}

/// Keeps a WebSocket counted in `websocket_connections`.
pub struct WebSocketGuard(Gauge);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How long the relayer's balance may take before a scrape goes without it.
const CHAIN_READ_TIMEOUT: Duration = Duration::from_secs(2);

impl Platform {
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Every metric in the OpenMetrics text format, shared state read now.
    /// A part that cannot be read (the database, the chain) keeps its last
    /// values and is logged; the rest is still served.
    pub async fn render_metrics(&self) -> String {
        let metrics = self.metrics();
        for what in Counted::ALL {
            let family = match what {
                Counted::ChainTxs => &metrics.outbox,
                Counted::Rounds => &metrics.rounds,
                Counted::EvaluationJobs => &metrics.evaluation_jobs,
                Counted::ComputeTasks => &metrics.compute_tasks,
                Counted::ComputeNodes => &metrics.compute_nodes,
            };
            match gauges::by_state(self.db(), what).await {
                Ok(counts) => {
                    family.clear();
                    for (state, rows) in counts {
                        family.get_or_create(&StateLabels { state }).set(rows);
                    }
                }
                Err(err) => tracing::warn!(?what, error = %err, "metrics: counting failed"),
            }
        }
        metrics.breakers.clear();
        for provider in self.ai_providers() {
            let state = match provider.breaker.as_str() {
                "closed" => 0,
                "half_open" => 1,
                "open" => 2,
                _ => 3,
            };
            metrics
                .breakers
                .get_or_create(&ProviderLabels {
                    provider: provider.name,
                })
                .set(state);
        }
        if let Some(settlement) = self.inner.settlement.as_ref() {
            let provider = settlement.sender.chain().provider();
            let address = settlement.sender.address();
            match tokio::time::timeout(CHAIN_READ_TIMEOUT, provider.get_balance(address)).await {
                Ok(Ok(wei)) => {
                    let ether = f64::from(wei) / 1e18;
                    metrics.relayer_balance.set(ether);
                }
                Ok(Err(err)) => tracing::warn!(error = %err, "metrics: relayer balance unread"),
                Err(_) => tracing::warn!("metrics: relayer balance timed out"),
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

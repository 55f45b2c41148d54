//! The gateway's configuration, the `[ai]` table of `meritree.toml`:
//! providers (kind, base URL, where the key comes from, models with prices,
//! context limits and capabilities), routes (a public model name or a
//! preference → an ordered candidate list), retries and breakers.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::pricing::Price;
use crate::router::{BreakerConfig, RetryPolicy, RouterConfig};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiSettings {
    pub local: LocalSettings,
    /// The community compute nodes, as the provider `nodes`.
    pub nodes: NodesSettings,
    pub providers: Vec<ProviderSettings>,
    /// Extra public names; the preferences `quality`, `speed` and `cost`
    /// may be given here to replace their derived orders.
    pub routes: Vec<RouteSettings>,
    pub retry: RetrySettings,
    pub breaker: BreakerSettings,
}

impl AiSettings {
    pub fn router_config(&self) -> RouterConfig {
        RouterConfig {
            retry: RetryPolicy {
                max_attempts: self.retry.max_attempts,
                base_delay: Duration::from_millis(self.retry.base_delay_ms),
                max_delay: Duration::from_millis(self.retry.max_delay_ms),
            },
            breaker: BreakerConfig {
                consecutive_failures: self.breaker.consecutive_failures,
                window: Duration::from_secs(self.breaker.window_secs),
                min_requests: self.breaker.min_requests,
                failure_ratio: self.breaker.failure_ratio,
                cooldown: Duration::from_secs(self.breaker.cooldown_secs),
            },
            deadline: Duration::from_secs(self.retry.deadline_secs),
        }
    }
}

/// The embedded CPU models (SmolLM2-135M-Instruct for chat,
/// all-MiniLM-L6-v2 for embeddings): the last resort of every route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSettings {
    pub enabled: bool,
    /// Where `scripts/setup` extracted the weights. Unset: the cache
    /// directory (`$XDG_CACHE_HOME/meritree/models` or `~/.cache/meritree/models`).
    pub models_dir: Option<std::path::PathBuf>,
}

impl LocalSettings {
    /// `models_dir`, or the cache directory `scripts/setup` fills.
    pub fn models_dir(&self) -> std::path::PathBuf {
        if let Some(dir) = &self.models_dir {
            return dir.clone();
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .unwrap_or_else(|| ".cache".into());
        cache.join("meritree").join("models")
    }
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
        }
    }
}

/// The compute network as a provider (`nodes/<model>`): requests become
/// tasks that community nodes run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodesSettings {
    pub enabled: bool,
    /// The models nodes may serve, with what a request costs its caller.
    /// Default: the embedded models' names (what `meritree node` serves
    /// out of the box), free.
    pub models: Vec<ModelSettings>,
}

impl Default for NodesSettings {
    fn default() -> Self {
        let free = |name: &str, context, capability| ModelSettings {
            name: name.to_owned(),
            input_price: 0,
            output_price: 0,
            context,
            capabilities: vec![capability],
        };
        Self {
            enabled: true,
            models: vec![
                free("smollm2-135m-instruct", 2048, Capability::Chat),
                free("all-minilm-l6-v2", 256, Capability::Embeddings),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI and every server speaking its API by base URL: DeepSeek,
    /// llama.cpp, vLLM, Ollama.
    Openai,
    Anthropic,
    Gemini,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique; `local` is the embedded provider's.
    pub name: String,
    pub kind: ProviderKind,
    /// e.g. `https://api.openai.com/v1`, `https://api.anthropic.com`,
    /// `https://generativelanguage.googleapis.com`.
    pub base_url: String,
    /// The environment variable holding the key. A provider whose variable
    /// is unset is left out (and says so in the log); empty: no key needed.
    #[serde(default)]
    pub api_key_env: String,
    #[serde(default = "default_first_byte_secs")]
    pub first_byte_timeout_secs: u64,
    #[serde(default = "default_total_secs")]
    pub total_timeout_secs: u64,
    pub models: Vec<ModelSettings>,
}

fn default_first_byte_secs() -> u64 {
    20
}

fn default_total_secs() -> u64 {
    300
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The provider's own name for the model.
    pub name: String,
    /// Millionths of a US dollar per million tokens (150000 = $0.15).
    #[serde(default)]
    pub input_price: u64,
    #[serde(default)]
    pub output_price: u64,
    /// Tokens of prompt plus completion the model accepts.
    pub context: u32,
    pub capabilities: Vec<Capability>,
}

impl ModelSettings {
    pub fn price(&self) -> Price {
        Price {
            input_micros_per_mtok: self.input_price,
            output_micros_per_mtok: self.output_price,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Chat,
    Embeddings,
    /// A moderation classifier (OpenAI's `/moderations`): flags text that
    /// breaks a content policy, by category.
    Moderation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// What callers put in `model`.
    pub name: String,
    /// `provider/model`, tried in this order.
    pub candidates: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Calls to one candidate, the first included.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// The whole search, every candidate and retry, until an answer starts.
    pub deadline_secs: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        Self {
            max_attempts: policy.max_attempts,
            base_delay_ms: policy.base_delay.as_millis() as u64,
            max_delay_ms: policy.max_delay.as_millis() as u64,
            deadline_secs: RouterConfig::default().deadline.as_secs(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    pub consecutive_failures: u32,
    pub window_secs: u64,
    pub min_requests: u32,
    pub failure_ratio: f64,
    pub cooldown_secs: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        let breaker = BreakerConfig::default();
        Self {
            consecutive_failures: breaker.consecutive_failures,
            window_secs: breaker.window.as_secs(),
            min_requests: breaker.min_requests,
            failure_ratio: breaker.failure_ratio,
            cooldown_secs: breaker.cooldown.as_secs(),
        }
    }
}

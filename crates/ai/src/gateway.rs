//! The configured gateway: the router with every usable provider in it, the
//! catalogue of their models (prices, context limits, capabilities), and
//! the public names callers put in `model`:
//!
//! - a route's name (`[[ai.routes]]`);
//! - a preference, `quality`, `speed` or `cost`: every model with the
//!   capability, ordered by price (dearest first for quality, cheapest first
//!   for cost and speed) unless a route of that name says otherwise;
//! - `provider/model`, exactly that model;
//! - a bare model name: every provider offering it, so the same open model
//!   on two hosts fails over between them.
//!
//! Every resolved list ends with the embedded local model when it has the
//! capability, so with no keys configured everything routes to it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{AiSettings, Capability, ModelSettings, ProviderKind, ProviderSettings};
use crate::pricing::Price;
use crate::providers::anthropic::Anthropic;
use crate::providers::gemini::Gemini;
use crate::providers::openai::OpenAi;
use crate::providers::{HttpConfig, Provider, Timeouts};
use crate::router::{Candidate, ProviderStatus, Router};

/// The embedded provider's name.
pub const LOCAL: &str = "local";
/// The compute network's name as a provider.
pub const NODES: &str = "nodes";
pub const LOCAL_CHAT_MODEL: &str = "smollm2-135m-instruct";
pub const LOCAL_EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// The public names every gateway answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    Quality,
    Speed,
    Cost,
}

impl Preference {
    pub const ALL: [Preference; 3] = [Self::Quality, Self::Speed, Self::Cost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quality => "quality",
            Self::Speed => "speed",
            Self::Cost => "cost",
        }
    }
}

/// One model of one provider, as configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogModel {
    pub provider: String,
    #[serde(flatten)]
    pub settings: ModelSettings,
}

impl CatalogModel {
    pub fn id(&self) -> String {
        format!("{}/{}", self.provider, self.settings.name)
    }

    fn candidate(&self) -> Candidate {
        Candidate::new(&self.provider, &self.settings.name)
    }
}

/// A configured provider that is not in the router, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisabledProvider {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "ai provider {0:?}: the name is used twice (or is the reserved {LOCAL:?} or {NODES:?})"
    )]
    DuplicateProvider(String),
    #[error("ai provider {name:?}: base_url {url:?} is not an http(s) URL")]
    BadBaseUrl { name: String, url: String },
    #[error("ai provider {0:?}: no models listed")]
    NoModels(String),
    #[error("ai provider {provider:?}: model {model:?} lists {capability:?}, which this kind of provider's API does not offer")]
    NotOffered {
        provider: String,
        model: String,
        capability: Capability,
    },
    #[error("ai route {route:?}: candidate {candidate:?} is not a configured provider/model")]
    UnknownCandidate { route: String, candidate: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("no model named {0:?}")]
    UnknownModel(String),
    #[error("{model:?} cannot do {capability:?}")]
    Incapable {
        model: String,
        capability: Capability,
    },
}

pub struct Gateway {
    router: Router,
    models: Vec<CatalogModel>,
    routes: HashMap<String, Vec<Candidate>>,
    disabled: Vec<DisabledProvider>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("models", &self.models)
            .field("routes", &self.routes)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the router from `settings`. `env` looks up API keys (the
    /// process environment in the server, a map in tests); `local` is the
    /// embedded provider when enabled.
    pub fn build(
        settings: &AiSettings,
        env: impl Fn(&str) -> Option<String>,
        local: Option<Arc<dyn Provider>>,
    ) -> Result<Self, ConfigError> {
        Self::build_with_nodes(settings, env, local, None)
    }

    /// [`Gateway::build`], with the compute network as the provider
    /// [`NODES`] (named so), offering `settings.nodes.models`.
    pub fn build_with_nodes(
        settings: &AiSettings,
        env: impl Fn(&str) -> Option<String>,
        local: Option<Arc<dyn Provider>>,
        nodes: Option<Arc<dyn Provider>>,
    ) -> Result<Self, ConfigError> {
        let mut router = Router::new(settings.router_config());
        let mut models = Vec::new();
        let mut disabled = Vec::new();
        let mut names = HashSet::from([LOCAL.to_owned(), NODES.to_owned()]);
        for provider in &settings.providers {
            if !names.insert(provider.name.clone()) {
                return Err(ConfigError::DuplicateProvider(provider.name.clone()));
            }
            validate(provider)?;
            let key = if provider.api_key_env.is_empty() {
                None
            } else {
                match env(&provider.api_key_env).filter(|k| !k.is_empty()) {
                    Some(key) => Some(key),
                    None => {
                        tracing::warn!(
                            provider = %provider.name,
                            variable = %provider.api_key_env,
                            "ai provider left out: its key variable is not set"
                        );
                        disabled.push(DisabledProvider {
                            name: provider.name.clone(),
                            reason: format!("{} is not set", provider.api_key_env),
                        });
                        continue;
                    }
                }
            };
            router.add(adapter(provider, key));
            models.extend(provider.models.iter().map(|m| CatalogModel {
                provider: provider.name.clone(),
                settings: m.clone(),
            }));
        }
        if let Some(local) = local {
            router.add(local);
            models.extend(local_models());
        }
        if let Some(nodes) = nodes.filter(|_| settings.nodes.enabled) {
            router.add(nodes);
            models.extend(settings.nodes.models.iter().map(|m| CatalogModel {
                provider: NODES.to_owned(),
                settings: m.clone(),
            }));
        }
        let mut gateway = Self {
            router,
            models,
            routes: HashMap::new(),
            disabled,
        };
        for route in &settings.routes {
            let mut candidates = Vec::new();
            for id in &route.candidates {
                match gateway.model(id) {
                    Some(model) => candidates.push(model.candidate()),
                    // A candidate of a provider left out for its missing key
                    // is skipped, not an error: the route still works.
                    None if gateway.is_disabled(id) => {}
                    None => {
                        return Err(ConfigError::UnknownCandidate {
                            route: route.name.clone(),
                            candidate: id.clone(),
                        })
                    }
                }
            }
            gateway.routes.insert(route.name.clone(), candidates);
        }
        Ok(gateway)
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn models(&self) -> &[CatalogModel] {
        &self.models
    }

    pub fn disabled(&self) -> &[DisabledProvider] {
        &self.disabled
    }

    pub fn providers(&self) -> Vec<ProviderStatus> {
        self.router.providers()
    }

    /// The configured model behind `provider/model`.
    pub fn model(&self, id: &str) -> Option<&CatalogModel> {
        let (provider, name) = id.split_once('/')?;
        self.models
            .iter()
            .find(|m| m.provider == provider && m.settings.name == name)
    }

    /// What a candidate costs per token.
    pub fn price(&self, candidate: &Candidate) -> Price {
        self.models
            .iter()
            .find(|m| m.provider == candidate.provider && m.settings.name == candidate.model)
            .map(|m| m.settings.price())
            .unwrap_or_default()
    }

    /// The context limit of a candidate's model.
    pub fn context(&self, candidate: &Candidate) -> Option<u32> {
        self.models
            .iter()
            .find(|m| m.provider == candidate.provider && m.settings.name == candidate.model)
            .map(|m| m.settings.context)
    }

    /// Every public name: routes, preferences, `provider/model` ids.
    pub fn public_names(&self, capability: Capability) -> Vec<String> {
        let mut names: Vec<String> = Preference::ALL
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        let mut routes: Vec<&String> = self.routes.keys().collect();
        routes.sort();
        names.extend(
            routes
                .into_iter()
                .filter(|r| !names.contains(r))
                .cloned()
                .collect::<Vec<_>>(),
        );
        names.extend(
            self.models
                .iter()
                .filter(|m| m.settings.capabilities.contains(&capability))
                .map(CatalogModel::id),
        );
        names
    }

    /// The ordered candidates for `name`.
    pub fn resolve(
        &self,
        name: &str,
        capability: Capability,
    ) -> Result<Vec<Candidate>, ResolveError> {
        let capable = |c: &Candidate| {
            self.models.iter().any(|m| {
                m.provider == c.provider
                    && m.settings.name == c.model
                    && m.settings.capabilities.contains(&capability)
            })
        };
        let mut candidates: Vec<Candidate> = if let Some(route) = self.routes.get(name) {
            route.iter().filter(|c| capable(c)).cloned().collect()
        } else if let Some(preference) = Preference::ALL.iter().find(|p| p.as_str() == name) {
            self.by_preference(*preference, capability)
        } else if let Some(model) = self.model(name) {
            if !model.settings.capabilities.contains(&capability) {
                return Err(ResolveError::Incapable {
                    model: name.to_owned(),
                    capability,
                });
            }
            // Exactly what was asked for: no fallback to another model.
            return Ok(vec![model.candidate()]);
        } else {
            let same_name: Vec<Candidate> = self
                .models
                .iter()
                .filter(|m| m.settings.name == name)
                .map(CatalogModel::candidate)
                .collect();
            if same_name.is_empty() {
                return Err(ResolveError::UnknownModel(name.to_owned()));
            }
            let usable: Vec<Candidate> = same_name.into_iter().filter(capable).collect();
            if usable.is_empty() {
                return Err(ResolveError::Incapable {
                    model: name.to_owned(),
                    capability,
                });
            }
            return Ok(usable);
        };
        if let Some(last) = self.local_fallback(capability) {
            if !candidates.contains(&last) {
                candidates.push(last);
            }
        }
        if candidates.is_empty() {
            return Err(ResolveError::Incapable {
                model: name.to_owned(),
                capability,
            });
        }
        Ok(candidates)
    }

    fn by_preference(&self, preference: Preference, capability: Capability) -> Vec<Candidate> {
        let mut models: Vec<&CatalogModel> = self
            .models
            .iter()
            // The embedded models end every list; nodes are asked for by
            // name or route, their capacity being whatever is online.
            .filter(|m| {
                m.provider != LOCAL
                    && m.provider != NODES
                    && m.settings.capabilities.contains(&capability)
            })
            .collect();
        // Price is the only signal every configuration has: the dearest model
        // is taken as the strongest, the cheapest as the smallest and fastest.
        // A route named after the preference replaces this order.
        models.sort_by_key(|m| m.settings.price().blended());
        if preference == Preference::Quality {
            models.reverse();
        }
        models.into_iter().map(CatalogModel::candidate).collect()
    }

    fn local_fallback(&self, capability: Capability) -> Option<Candidate> {
        self.models
            .iter()
            .find(|m| m.provider == LOCAL && m.settings.capabilities.contains(&capability))
            .map(CatalogModel::candidate)
    }

    fn is_disabled(&self, id: &str) -> bool {
        id.split_once('/')
            .is_some_and(|(provider, _)| self.disabled.iter().any(|d| d.name == provider))
    }
}

fn validate(provider: &ProviderSettings) -> Result<(), ConfigError> {
    let url = provider.base_url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || reqwest::Url::parse(url).is_err()
    {
        return Err(ConfigError::BadBaseUrl {
            name: provider.name.clone(),
            url: provider.base_url.clone(),
        });
    }
    if provider.models.is_empty() {
        return Err(ConfigError::NoModels(provider.name.clone()));
    }
    // Anthropic has no embeddings; only OpenAI's API has moderations.
    let offered = |capability| match capability {
        Capability::Chat => true,
        Capability::Embeddings => provider.kind != ProviderKind::Anthropic,
        Capability::Moderation => provider.kind == ProviderKind::Openai,
    };
    let unoffered = provider.models.iter().find_map(|m| {
        let capability = m.capabilities.iter().copied().find(|c| !offered(*c))?;
        Some((m, capability))
    });
    if let Some((model, capability)) = unoffered {
        return Err(ConfigError::NotOffered {
            provider: provider.name.clone(),
            model: model.name.clone(),
            capability,
        });
    }
    Ok(())
}

fn adapter(provider: &ProviderSettings, key: Option<String>) -> Arc<dyn Provider> {
    let mut http = HttpConfig::new(&provider.name, &provider.base_url).timeouts(Timeouts {
        first_byte: Duration::from_secs(provider.first_byte_timeout_secs),
        total: Duration::from_secs(provider.total_timeout_secs),
    });
    if let Some(key) = key {
        http = http.api_key(key);
    }
    match provider.kind {
        ProviderKind::Openai => Arc::new(OpenAi::new(http)),
        ProviderKind::Anthropic => Arc::new(Anthropic::new(http)),
        ProviderKind::Gemini => Arc::new(Gemini::new(http)),
    }
}

/// The embedded models: free, small context.
fn local_models() -> Vec<CatalogModel> {
    let model = |name: &str, context, capability| CatalogModel {
        provider: LOCAL.to_owned(),
        settings: ModelSettings {
            name: name.to_owned(),
            input_price: 0,
            output_price: 0,
            context,
            capabilities: vec![capability],
        },
    };
    vec![
        model(LOCAL_CHAT_MODEL, 2048, Capability::Chat),
        model(LOCAL_EMBEDDING_MODEL, 256, Capability::Embeddings),
    ]
}

#[cfg(test)]
mod tests;

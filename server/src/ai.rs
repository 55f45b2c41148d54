//! The AI gateway at start: providers from `[ai]`, keys from the
//! environment, the embedded local models as the last resort.

use std::sync::Arc;

use meritree_ai::{Gateway, Provider};

use crate::configuration::Settings;
use crate::startup::StartupError;

pub fn start(settings: &Settings) -> Result<Arc<Gateway>, StartupError> {
    let ai = &settings.ai;
    // The embedded CPU provider (crates/ai providers::local) is not in this
    // build yet: with `ai.local.enabled`, only configured upstreams answer.
    if ai.local.enabled {
        tracing::warn!("the embedded local models are not available in this build");
    }
    let local: Option<Arc<dyn Provider>> = None;
    let gateway = Gateway::build(ai, |name| std::env::var(name).ok(), local)
        .map_err(|e| StartupError::Config(e.to_string()))?;
    tracing::info!(
        providers = gateway.providers().len(),
        disabled = gateway.disabled().len(),
        models = gateway.models().len(),
        "AI gateway ready"
    );
    Ok(Arc::new(gateway))
}

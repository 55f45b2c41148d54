//! The AI gateway at start: providers from `[ai]`, keys from the
//! environment, the embedded local models as the last resort.

use std::sync::Arc;

use meritree_ai::providers::local::LocalProvider;
use meritree_ai::{Gateway, Provider};
use meritree_platform::compute::NodesProvider;

use crate::configuration::Settings;
use crate::startup::StartupError;

/// The gateway, with the compute network as its `nodes` provider (attached
/// to the platform once that exists).
pub fn start(settings: &Settings, nodes: Arc<NodesProvider>) -> Result<Arc<Gateway>, StartupError> {
    let ai = &settings.ai;
    let local: Option<Arc<dyn Provider>> = ai.local.enabled.then(|| {
        let dir = ai.local.models_dir();
        tracing::info!(dir = %dir.display(), "local AI models (loaded on first use)");
        Arc::new(LocalProvider::new(dir)) as Arc<dyn Provider>
    });
    let gateway = Gateway::build_with_nodes(
        ai,
        |name| std::env::var(name).ok(),
        local,
        Some(nodes as Arc<dyn Provider>),
    )
    .map_err(|e| StartupError::Config(e.to_string()))?;
    tracing::info!(
        providers = gateway.providers().len(),
        disabled = gateway.disabled().len(),
        models = gateway.models().len(),
        "AI gateway ready"
    );
    Ok(Arc::new(gateway))
}

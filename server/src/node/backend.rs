//! Where a node runs its tasks: the embedded CPU models, or any server
//! that speaks OpenAI's API (llama.cpp, Ollama, vLLM) — the gateway's own
//! provider adapters, so a node speaks the same wire formats the platform
//! does.

use std::sync::Arc;

use futures_util::StreamExt;
use meritree_ai::providers::local::LocalProvider;
use meritree_ai::providers::openai::OpenAi;
use meritree_ai::providers::{HttpConfig, Provider};
use meritree_ai::types::{ChatRequest, Message, Role, StreamEvent};
use meritree_core::compute::{ChatRole, TaskInput, TaskOutput};

/// What a task run produced, or why it could not run.
pub type Outcome = Result<TaskOutput, String>;

#[derive(Clone)]
pub struct Backend {
    provider: Arc<dyn Provider>,
}

impl Backend {
    /// The embedded models, loaded from `models_dir` on first use.
    pub fn local(models_dir: std::path::PathBuf) -> Self {
        Self {
            provider: Arc::new(LocalProvider::new(models_dir)),
        }
    }

    /// An OpenAI-compatible server at `base_url` (its `/v1` prefix
    /// included, e.g. `http://127.0.0.1:8080/v1`).
    pub fn openai(base_url: &str, api_key: Option<String>) -> Self {
        let mut config = HttpConfig::new("node-backend", base_url);
        if let Some(key) = api_key {
            config = config.api_key(key);
        }
        Self {
            provider: Arc::new(OpenAi::new(config)),
        }
    }

    /// Runs `input`; a chat answer's pieces go to `delta` as they come.
    pub async fn run(&self, input: &TaskInput, mut delta: impl FnMut(String)) -> Outcome {
        match input {
            TaskInput::Chat {
                model,
                messages,
                max_tokens,
                temperature,
            } => {
                let request = ChatRequest {
                    model: model.clone(),
                    messages: messages
                        .iter()
                        .map(|m| Message::new(role(m.role), m.content.clone()))
                        .collect(),
                    max_tokens: *max_tokens,
                    temperature: *temperature,
                    stream: true,
                    ..ChatRequest::default()
                };
                let mut stream = self
                    .provider
                    .chat_stream(&request)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut text = String::new();
                let (mut input_tokens, mut output_tokens) = (0, 0);
                while let Some(event) = stream.next().await {
                    match event.map_err(|e| e.to_string())? {
                        StreamEvent::TextDelta { text: piece } => {
                            text.push_str(&piece);
                            delta(piece);
                        }
                        StreamEvent::Usage { usage } => {
                            input_tokens = usage.input_tokens;
                            output_tokens = usage.output_tokens;
                        }
                        StreamEvent::Done { .. } => break,
                        StreamEvent::Error { error } => return Err(error.to_string()),
                    }
                }
                Ok(TaskOutput::Chat {
                    text,
                    input_tokens,
                    output_tokens,
                })
            }
            TaskInput::Embeddings { model, inputs } => {
                let embeddings = self
                    .provider
                    .embed(inputs, model)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(TaskOutput::Embeddings {
                    vectors: embeddings.vectors,
                    input_tokens: embeddings.input_tokens,
                })
            }
        }
    }
}

fn role(role: ChatRole) -> Role {
    match role {
        ChatRole::System => Role::System,
        ChatRole::User => Role::User,
        ChatRole::Assistant => Role::Assistant,
    }
}

//! The embedded provider: small models on the CPU with candle, so the
//! gateway always has a last resort that needs no network and no key.
//!
//! - chat: SmolLM2-135M-Instruct (`smollm2-135m-instruct`), 4-bit GGUF,
//!   2048 tokens of context;
//! - embeddings: all-MiniLM-L6-v2 (`all-minilm-l6-v2`), 384 dimensions.
//!
//! `scripts/setup` extracts the files from their PyPI wheels into the models
//! directory; nothing is downloaded here. Each model is loaded once, on
//! first use (`LocalProvider::new`) or up front (`LocalProvider::load`), and
//! shared by every request. Inference is CPU-bound and runs on tokio's
//! blocking threads, never on the async workers.

mod chat;
mod embed;
mod json_grammar;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use tokio::sync::{mpsc, OnceCell};

use self::chat::{ChatModel, Job};
use self::embed::EmbeddingModel;
use self::json_grammar::Schema;
use super::{ChatStream, Provider};
use crate::error::ProviderError;
use crate::types::{
    ChatRequest, ChatResponse, Embeddings, FinishReason, ResponseFormat, StreamEvent, Usage,
};

pub use self::chat::{CONTEXT_LENGTH, DEFAULT_MAX_TOKENS};
pub use self::embed::{
    DIMENSIONS as EMBEDDING_DIMENSIONS, MAX_INPUT_TOKENS as EMBEDDING_MAX_TOKENS,
};

/// The provider's name in the router.
pub const NAME: &str = "local";
/// The chat model's name in requests.
pub const CHAT_MODEL: &str = "smollm2-135m-instruct";
/// The embedding model's name in requests.
pub const EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// Where each file lives under the models directory.
const CHAT_FILE: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
const EMBEDDING_DIR: &str = "all-minilm-l6-v2";
const EMBEDDING_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

/// Why the models could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error(
        "local AI model files missing from {}: {}; run scripts/setup to install them",
        .dir.display(),
        .files.join(", ")
    )]
    Missing { dir: PathBuf, files: Vec<String> },
    #[error("cannot load {}: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// SmolLM2 and MiniLM behind the `Provider` trait.
pub struct LocalProvider {
    dir: PathBuf,
    chat: OnceCell<Arc<ChatModel>>,
    embedder: OnceCell<Arc<EmbeddingModel>>,
}

impl LocalProvider {
    /// Reads nothing yet: each model loads on its first request (a second
    /// or two), and a failure to load is that request's error, retried by
    /// the next one.
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: models_dir.into(),
            chat: OnceCell::new(),
            embedder: OnceCell::new(),
        }
    }

    /// Loads both models now. Blocking (disk and CPU for a second or two):
    /// call it at start-up, or from `spawn_blocking`.
    pub fn load(models_dir: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let dir = models_dir.into();
        Self::check(&dir)?;
        let chat = ChatModel::load(&dir.join(CHAT_FILE))?;
        let embedder = EmbeddingModel::load(&dir.join(EMBEDDING_DIR))?;
        Ok(Self {
            dir,
            chat: OnceCell::new_with(Some(Arc::new(chat))),
            embedder: OnceCell::new_with(Some(Arc::new(embedder))),
        })
    }

    /// Whether every model file is where `scripts/setup` puts it, without
    /// reading any of them.
    pub fn check(models_dir: &Path) -> Result<(), LoadError> {
        let mut files = vec![CHAT_FILE.to_owned()];
        files.extend(EMBEDDING_FILES.map(|f| format!("{EMBEDDING_DIR}/{f}")));
        require(models_dir, files)
    }

    pub fn models_dir(&self) -> &Path {
        &self.dir
    }

    async fn chat_model(&self) -> Result<Arc<ChatModel>, ProviderError> {
        let model = self.chat.get_or_try_init(|| async {
            require(&self.dir, vec![CHAT_FILE.to_owned()])?;
            let path = self.dir.join(CHAT_FILE);
            Ok::<_, LoadOrPanic>(blocking(move || ChatModel::load(&path).map(Arc::new)).await??)
        });
        model.await.map(Arc::clone).map_err(unavailable)
    }

    async fn embedding_model(&self) -> Result<Arc<EmbeddingModel>, ProviderError> {
        let model = self.embedder.get_or_try_init(|| async {
            require(
                &self.dir,
                EMBEDDING_FILES
                    .map(|f| format!("{EMBEDDING_DIR}/{f}"))
                    .to_vec(),
            )?;
            let dir = self.dir.join(EMBEDDING_DIR);
            Ok::<_, LoadOrPanic>(blocking(move || EmbeddingModel::load(&dir).map(Arc::new)).await??)
        });
        model.await.map(Arc::clone).map_err(unavailable)
    }

    /// Validates and tokenises the request, then starts generating on a
    /// blocking thread that feeds the returned stream.
    async fn start(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        if req.model != CHAT_MODEL {
            return Err(ProviderError::NotFound);
        }
        if req.messages.is_empty() {
            return Err(ProviderError::BadRequest("no messages".into()));
        }
        let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        if max_tokens == 0 {
            return Err(ProviderError::BadRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        let temperature = match req.temperature {
            Some(t) if !t.is_finite() || t < 0.0 => {
                return Err(ProviderError::BadRequest(format!(
                    "temperature {t} is not a number from 0 up"
                )))
            }
            Some(t) if t > 0.0 => Some(f64::from(t)),
            _ => None,
        };
        // Enforced by constrained decoding; a schema it cannot enforce
        // exactly is declined, so the router may try a candidate that can.
        let form = match &req.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(Schema::AnyObject),
            Some(ResponseFormat::JsonSchema { json_schema }) => Some(
                Schema::root(&json_schema.schema)
                    .map_err(|e| ProviderError::Unsupported(format!("response_format: {e}")))?,
            ),
        };
        let model = self.chat_model().await?;

        let too_long = |size: &str| {
            ProviderError::BadRequest(format!(
                "the prompt is {size}: {CHAT_MODEL} has a context of \
                 {CONTEXT_LENGTH} tokens, prompt and answer together"
            ))
        };
        if model.surely_too_long(&req.messages) {
            return Err(too_long("far too long"));
        }
        let messages = req.messages.clone();
        let prompt = {
            let model = Arc::clone(&model);
            blocking(move || model.prompt(&messages))
                .await?
                .map_err(|e| internal("tokenising the prompt", e))?
        };
        if prompt.len() >= CONTEXT_LENGTH {
            return Err(too_long(&format!("{} tokens", prompt.len())));
        }
        let job = Job {
            max_tokens: max_tokens as usize,
            temperature,
            seed: req.seed.unwrap_or_else(|| fastrand::u64(..)),
            form,
            prompt,
        };
        let mut stops = StopSequences::new(req.stop.clone());

        let (tx, rx) = mpsc::unbounded_channel();
        tokio::task::spawn_blocking(move || {
            let input_tokens = job.prompt.len() as u64;
            let outcome = model.generate(
                &job,
                || tx.is_closed(),
                |text| {
                    let (ready, go_on) = stops.push(text);
                    let sent = ready.is_empty()
                        || tx.send(Ok(StreamEvent::TextDelta { text: ready })).is_ok();
                    sent && go_on
                },
            );
            match outcome {
                Ok(outcome) => {
                    let rest = stops.finish();
                    if !rest.is_empty() {
                        let _ = tx.send(Ok(StreamEvent::TextDelta { text: rest }));
                    }
                    let finish = if stops.stopped() {
                        Some(FinishReason::Stop)
                    } else {
                        outcome.finish
                    };
                    if let Some(finish) = finish {
                        let usage = Usage {
                            input_tokens,
                            output_tokens: outcome.output_tokens as u64,
                        };
                        let _ = tx.send(Ok(StreamEvent::Usage { usage }));
                        let _ = tx.send(Ok(StreamEvent::Done {
                            finish_reason: Some(finish),
                        }));
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(internal("generating", e)));
                }
            }
        });
        Ok(receive(rx))
    }
}

impl Provider for LocalProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            // Dropping this future drops the stream, which stops generating.
            let mut events = self.start(req).await?;
            let mut text = String::new();
            let mut usage = Usage::default();
            while let Some(event) = events.next().await {
                match event? {
                    StreamEvent::TextDelta { text: piece } => text.push_str(&piece),
                    StreamEvent::Usage { usage: total } => usage = total,
                    StreamEvent::Done { finish_reason } => {
                        return Ok(ChatResponse {
                            model: CHAT_MODEL.to_owned(),
                            text,
                            finish_reason,
                            usage,
                        })
                    }
                    StreamEvent::Error { error } => return Err(error),
                }
            }
            Err(ProviderError::StreamBroken)
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(self.start(req))
    }

    fn embed<'a>(
        &'a self,
        inputs: &'a [String],
        model: &'a str,
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>> {
        Box::pin(async move {
            if model != EMBEDDING_MODEL {
                return Err(ProviderError::NotFound);
            }
            if inputs.is_empty() {
                return Err(ProviderError::BadRequest("no inputs".into()));
            }
            let embedder = self.embedding_model().await?;
            let inputs = inputs.to_vec();
            let output = blocking(move || embedder.embed(&inputs))
                .await?
                .map_err(|e| internal("embedding", e))?;
            Ok(Embeddings {
                model: EMBEDDING_MODEL.to_owned(),
                vectors: output.vectors,
                input_tokens: output.input_tokens,
            })
        })
    }
}

/// The generation thread's events as a `ChatStream`: it ends after `Done`
/// or an error, and a thread that stopped without either (it panicked)
/// shows as a broken stream. Dropping the stream closes the channel, which
/// the thread notices at its next token.
fn receive(rx: mpsc::UnboundedReceiver<Result<StreamEvent, ProviderError>>) -> ChatStream {
    stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Ok(event)) => {
                let last = matches!(event, StreamEvent::Done { .. });
                Some((Ok(event), (!last).then_some(rx)))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => Some((Err(ProviderError::StreamBroken), None)),
        }
    })
    .boxed()
}

fn require(dir: &Path, files: Vec<String>) -> Result<(), LoadError> {
    let missing: Vec<String> = files
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LoadError::Missing {
            dir: dir.to_owned(),
            files: missing,
        })
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Runs CPU or disk work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LoadOrPanic> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| LoadOrPanic::Panic(e.to_string()))
}

/// What lazy loading can fail with, before it becomes a `ProviderError`.
#[derive(Debug)]
enum LoadOrPanic {
    Load(LoadError),
    Panic(String),
}

impl From<LoadError> for LoadOrPanic {
    fn from(e: LoadError) -> Self {
        Self::Load(e)
    }
}

impl From<LoadOrPanic> for ProviderError {
    fn from(e: LoadOrPanic) -> Self {
        unavailable(e)
    }
}

/// Missing or unreadable model files: the configuration's fault, not the
/// moment's, so not worth retrying and not counted against the provider's
/// health; the message says how to fix it.
fn unavailable(e: LoadOrPanic) -> ProviderError {
    match e {
        LoadOrPanic::Load(e) => {
            tracing::error!(error = %e, "the local models are unavailable");
            ProviderError::Unsupported(e.to_string())
        }
        LoadOrPanic::Panic(e) => internal("a blocking task", e),
    }
}

/// A failure inside inference: logged in full, reported as the provider's
/// own fault.
fn internal(doing: &str, e: impl std::fmt::Display) -> ProviderError {
    tracing::error!(error = %e, "local model failed while {doing}");
    ProviderError::Server(500)
}

/// Ends the answer at the first stop sequence: text is held back while it
/// could still be the start of one, and the sequence itself is never sent.
struct StopSequences {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopSequences {
    fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// Text ready to send, and whether to keep generating.
    fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), false);
        }
        self.pending.push_str(piece);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            self.stopped = true;
            let ready = self.pending[..at].to_owned();
            self.pending.clear();
            return (ready, false);
        }
        let hold = self.stops.iter().map(|s| s.len() - 1).max().unwrap_or(0);
        let mut cut = self.pending.len().saturating_sub(hold);
        while !self.pending.is_char_boundary(cut) {
            cut -= 1;
        }
        let ready: String = self.pending.drain(..cut).collect();
        (ready, true)
    }

    /// What is still held back once generation ended on its own.
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod stop_tests {
    use super::StopSequences;

    #[test]
    fn the_answer_ends_before_the_first_stop_even_across_pieces() {
        let mut stops = StopSequences::new(vec!["END".into(), "\n\n".into()]);
        let mut sent = String::new();
        for piece in ["Hello wor", "ld E", "N", "D and more"] {
            let (ready, go_on) = stops.push(piece);
            sent.push_str(&ready);
            if !go_on {
                break;
            }
        }
        assert_eq!(sent, "Hello world ");
        assert!(stops.stopped());
    }

    #[test]
    fn without_stops_everything_passes_at_once() {
        let mut stops = StopSequences::new(Vec::new());
        assert_eq!(stops.push("été"), ("été".to_owned(), true));
        assert_eq!(stops.finish(), "");
    }
}

//! SmolLM2-135M-Instruct from its GGUF file: candle's quantized llama (the
//! model is a llama), a byte-level BPE tokenizer rebuilt from the file's own
//! metadata, the ChatML prompt, and token-by-token generation.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::Tokenizer;

use super::json_grammar::{Recogniser, Schema};
use super::{file_size, LoadError};
use crate::types::{FinishReason, Message, Role};

/// Positions the model attends over, prompt and answer together. The file
/// says 8192, but SmolLM2-135M was trained at 2048 and degrades past it.
pub const CONTEXT_LENGTH: usize = 2048;
/// Answer length when the request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 256;
/// The prompt is fed in pieces of this many tokens, which bounds the
/// attention scores held at once (heads × piece × context floats).
const PROMPT_CHUNK: usize = 512;
/// A mild penalty on recently generated tokens: without it a model this
/// small loops on a phrase. Deterministic, so argmax stays reproducible.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_LAST_N: usize = 64;
/// Under a required form, sampling draws from this many of the most
/// likely tokens that keep it (argmax from one).
const FORM_CANDIDATES: usize = 64;
/// The most likely tokens checked against the form before sorting all.
const FORM_HEAD: usize = 256;
/// What the model's own chat template inserts when the conversation does
/// not open with a system message.
const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

pub(super) struct ChatModel {
    /// The weights as loaded, with an empty KV cache. Each request works on
    /// a clone: the tensors are reference-counted, so a clone shares the
    /// weights and only its KV cache and mask cache are its own, and both
    /// are freed when the request ends.
    weights: ModelWeights,
    /// Serialises generation. Two requests at once would each get half of
    /// the CPU and both finish later than one after the other; queueing
    /// them is the acceptable cost of one shared model on a small machine.
    turn: Mutex<()>,
    /// Byte-level BPE without any added tokens: text in a message is always
    /// text, so a user who types `<|im_end|>` cannot forge a turn. The
    /// control tokens are placed by id.
    tokenizer: Tokenizer,
    im_start: u32,
    im_end: u32,
    end_of_text: u32,
    /// What each token writes, in bytes; empty for control tokens, which
    /// a required form never admits.
    token_bytes: Vec<Box<[u8]>>,
    /// The longest token, in bytes: text longer than this many bytes per
    /// position of context cannot fit, whatever its tokens.
    longest_token: usize,
}

/// One generation, validated and tokenised.
pub(super) struct Job {
    pub prompt: Vec<u32>,
    pub max_tokens: usize,
    /// `None`: always the most likely token.
    pub temperature: Option<f64>,
    pub seed: u64,
    /// The JSON the answer must be, if any.
    pub form: Option<Schema>,
}

pub(super) struct Outcome {
    pub output_tokens: usize,
    /// `None` when the caller went away before the end.
    pub finish: Option<FinishReason>,
}

impl ChatModel {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let started = Instant::now();
        tracing::info!(file = %path.display(), "loading the local chat model");
        let invalid = |e: &dyn std::fmt::Display| LoadError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let mut reader = BufReader::new(File::open(path).map_err(|e| invalid(&e))?);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| invalid(&e))?;
        let (tokenizer, im_start, im_end, end_of_text) =
            tokenizer_from_gguf(&content).map_err(|e| invalid(&e))?;
        let token_bytes = token_bytes(&content).map_err(|e| invalid(&e))?;
        let weights = requantized(content, &mut reader).map_err(|e| invalid(&e))?;
        tracing::info!(
            file = %path.display(),
            bytes = file_size(path),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded the local chat model"
        );
        let longest_token = tokenizer
            .get_vocab(false)
            .keys()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(1);
        Ok(Self {
            weights,
            turn: Mutex::new(()),
            tokenizer,
            im_start,
            im_end,
            end_of_text,
            token_bytes,
            longest_token,
        })
    }

    /// Whether these messages are too long for the context without
    /// tokenising them: refuses an oversized request in constant time.
    pub fn surely_too_long(&self, messages: &[Message]) -> bool {
        let bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        bytes > self.longest_token * CONTEXT_LENGTH
    }

    /// The ChatML prompt, as the model's template renders it, ending with
    /// the opening of the assistant's turn.
    pub fn prompt(&self, messages: &[Message]) -> candle_core::Result<Vec<u32>> {
        let mut ids = Vec::new();
        let turn = |ids: &mut Vec<u32>, role: &str, content: &str| {
            ids.push(self.im_start);
            ids.extend(self.encode(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(self.encode("\n")?);
            Ok::<_, candle_core::Error>(())
        };
        if messages.first().map(|m| m.role) != Some(Role::System) {
            turn(&mut ids, "system", DEFAULT_SYSTEM)?;
        }
        for message in messages {
            let role = match message.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            turn(&mut ids, role, &message.content)?;
        }
        ids.push(self.im_start);
        ids.extend(self.encode("assistant\n")?);
        Ok(ids)
    }

    pub fn encode(&self, text: &str) -> candle_core::Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(candle_core::Error::wrap)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Runs one generation, calling `emit` with each piece of complete
    /// UTF-8 text as it is decoded. `emit` returning false, or `cancelled`
    /// returning true (nobody is listening any more), stops the generation
    /// at the next token; `cancelled` is also asked after waiting for the
    /// model and between pieces of the prompt.
    pub fn generate(
        &self,
        job: &Job,
        cancelled: impl Fn() -> bool,
        mut emit: impl FnMut(&str) -> bool,
    ) -> candle_core::Result<Outcome> {
        let gone = Outcome {
            output_tokens: 0,
            finish: None,
        };
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        if cancelled() {
            return Ok(gone);
        }
        let started = Instant::now();
        let mut model = self.weights.clone();
        let device = Device::Cpu;
        let sampling = match job.temperature {
            Some(temperature) if temperature > 0.0 => Sampling::All { temperature },
            _ => Sampling::ArgMax,
        };
        let mut sampler = LogitsProcessor::from_sampling(job.seed, sampling);

        let mut logits = None;
        for (i, chunk) in job.prompt.chunks(PROMPT_CHUNK).enumerate() {
            if cancelled() {
                return Ok(gone);
            }
            let input = Tensor::new(chunk, &device)?.unsqueeze(0)?;
            logits = Some(model.forward(&input, i * PROMPT_CHUNK)?);
        }
        let Some(mut logits) = logits else {
            candle_core::bail!("empty prompt");
        };
        let prompt_done = Instant::now();

        let max_tokens = job
            .max_tokens
            .min(CONTEXT_LENGTH.saturating_sub(job.prompt.len()));
        let mut generated: Vec<u32> = Vec::new();
        let mut text = self.tokenizer.decode_stream(false);
        let mut form = job.form.as_ref().map(Recogniser::new);
        let candidates = match job.temperature {
            Some(_) => FORM_CANDIDATES,
            None => 1,
        };
        let finish = loop {
            if form.as_ref().is_some_and(Recogniser::is_complete) {
                break FinishReason::Stop;
            }
            let mut scores = logits.squeeze(0)?.to_dtype(DType::F32)?;
            if !generated.is_empty() {
                let recent = &generated[generated.len().saturating_sub(REPEAT_LAST_N)..];
                scores = candle_transformers::utils::apply_repeat_penalty(
                    &scores,
                    REPEAT_PENALTY,
                    recent,
                )?;
            }
            if let Some(form) = &form {
                scores = self.within_form(&scores, form, candidates)?;
            }
            let next = sampler.sample(&scores)?;
            if let Some(form) = &mut form {
                form.feed(&self.token_bytes[next as usize]);
            }
            if next == self.im_end || next == self.end_of_text || next == self.im_start {
                break FinishReason::Stop;
            }
            generated.push(next);
            if let Some(piece) = text.step(next).map_err(candle_core::Error::wrap)? {
                if !emit(&piece) {
                    return Ok(gone);
                }
            } else if cancelled() {
                return Ok(gone);
            }
            if generated.len() >= max_tokens {
                break FinishReason::Length;
            }
            let position = job.prompt.len() + generated.len() - 1;
            let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
            logits = model.forward(&input, position)?;
        };
        let prompt_secs = (prompt_done - started).as_secs_f64();
        let generation_secs = prompt_done.elapsed().as_secs_f64();
        tracing::debug!(
            input_tokens = job.prompt.len(),
            output_tokens = generated.len(),
            prompt_tokens_per_sec = job.prompt.len() as f64 / prompt_secs.max(1e-9),
            output_tokens_per_sec = generated.len() as f64 / generation_secs.max(1e-9),
            "local generation"
        );
        Ok(Outcome {
            output_tokens: generated.len(),
            finish: Some(finish),
        })
    }
}

impl ChatModel {
    /// The scores with every token that would break the form, and all but
    /// the `candidates` most likely of the rest, set to minus infinity.
    fn within_form(
        &self,
        scores: &Tensor,
        form: &Recogniser<'_>,
        candidates: usize,
    ) -> candle_core::Result<Tensor> {
        let scores: Vec<f32> = scores.to_vec1()?;
        let keeps = |t: u32| form.accepts(&self.token_bytes[t as usize]);
        let by_score = |a: &u32, b: &u32| scores[*b as usize].total_cmp(&scores[*a as usize]);
        let mut order: Vec<u32> = (0..scores.len() as u32).collect();
        // Most often the form allows what the model wants anyway: look at
        // the head first and sort the whole vocabulary only when it fails.
        let head = FORM_HEAD.min(order.len());
        order.select_nth_unstable_by(head - 1, by_score);
        order[..head].sort_unstable_by(by_score);
        let mut allowed: Vec<u32> = order[..head]
            .iter()
            .copied()
            .filter(|t| keeps(*t))
            .take(candidates)
            .collect();
        if allowed.len() < candidates {
            order[head..].sort_unstable_by(by_score);
            let rest = order[head..].iter().copied().filter(|t| keeps(*t));
            allowed.extend(rest.take(candidates - allowed.len()));
        }
        if allowed.is_empty() {
            // The recogniser only takes prefixes that can be finished, and
            // every single byte is a token: this cannot happen.
            candle_core::bail!("no token continues the required form");
        }
        let mut masked = vec![f32::NEG_INFINITY; scores.len()];
        for t in allowed {
            masked[t as usize] = scores[t as usize];
        }
        Tensor::from_vec(masked, scores.len(), &Device::Cpu)
    }
}

/// The weights, with every Q4_1 tensor re-encoded as Q8_0. The file stores
/// the layers as Q4_1, for which candle has only a scalar kernel, while
/// Q8_0 has an AVX2 one: re-encoding once at load (about a second, and
/// about 35 MB more memory) makes the prompt pass about five times and
/// decoding between two and three times faster. Q8_0's steps are 16 times finer than Q4_1's, so the model
/// computes practically what the file says.
fn requantized<R: Read + Seek>(
    content: gguf_file::Content,
    reader: &mut R,
) -> candle_core::Result<ModelWeights> {
    let device = Device::Cpu;
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let tensor = content.tensor(reader, name, &device)?;
        let tensor = if tensor.dtype() == GgmlDType::Q4_1 {
            QTensor::quantize(&tensor.dequantize(&device)?, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    // The model reads only its own keys; the tokenizer's arrays stay out.
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(key, _)| !key.starts_with("tokenizer."))
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let mut file = Cursor::new(Vec::new());
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    gguf_file::write(&mut file, &metadata, &refs)?;
    drop(refs);
    drop(tensors);
    file.set_position(0);
    let content = gguf_file::Content::read(&mut file)?;
    ModelWeights::from_gguf(content, &mut file, &device)
}

/// The tokenizer SmolLM2 ships as `tokenizer.json`, rebuilt from what the
/// GGUF file records: the vocabulary (`tokenizer.ggml.tokens`, the id is
/// the index), the BPE merges, and the `smollm` pre-tokenizer, which splits
/// digits one by one and then applies GPT-2's byte-level regex.
fn tokenizer_from_gguf(
    content: &gguf_file::Content,
) -> candle_core::Result<(Tokenizer, u32, u32, u32)> {
    let get = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| candle_core::Error::msg(format!("no `{key}` in the metadata")))
    };
    let kind = get("tokenizer.ggml.model")?.to_string()?;
    if kind != "gpt2" {
        candle_core::bail!("tokenizer `{kind}` is not byte-level BPE");
    }
    let tokens = get("tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<Vec<String>>>()?;
    let merges = get("tokenizer.ggml.merges")?
        .to_vec()?
        .iter()
        .map(|v| {
            let merge = v.to_string()?;
            merge
                .split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| candle_core::Error::msg(format!("bad merge `{merge}`")))
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let id = |token: &str| {
        tokens
            .iter()
            .position(|t| t == token)
            .map(|i| i as u32)
            .ok_or_else(|| candle_core::Error::msg(format!("no `{token}` in the vocabulary")))
    };
    let (im_start, im_end, end_of_text) =
        (id("<|im_start|>")?, id("<|im_end|>")?, id("<|endoftext|>")?);
    // The ids the file names as begin and end must be the ChatML ones the
    // prompt and the stop condition use.
    for (key, want) in [
        ("tokenizer.ggml.bos_token_id", im_start),
        ("tokenizer.ggml.eos_token_id", im_end),
    ] {
        let got = get(key)?.to_u32()?;
        if got != want {
            candle_core::bail!("`{key}` is {got}, expected {want}");
        }
    }

    let vocab: tokenizers::models::bpe::Vocab = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(candle_core::Error::wrap)?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ])));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    Ok((tokenizer, im_start, im_end, end_of_text))
}

/// Each token's bytes. Byte-level BPE writes every byte as a printable
/// character (GPT-2's table: printable Latin-1 stands for itself, the other
/// bytes for U+0100 onwards in order); control tokens, by the file's
/// `token_type`, write nothing here.
fn token_bytes(content: &gguf_file::Content) -> candle_core::Result<Vec<Box<[u8]>>> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut byte_of = std::collections::HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("below U+0200")
        };
        byte_of.insert(c, b);
    }
    let get = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| candle_core::Error::msg(format!("no `{key}` in the metadata")))
    };
    let kinds = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(kinds) => kinds
            .to_vec()?
            .iter()
            .map(|k| k.to_i32())
            .collect::<candle_core::Result<Vec<i32>>>()?,
        None => Vec::new(),
    };
    const NORMAL: i32 = 1;
    get("tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .enumerate()
        .map(|(id, token)| {
            if kinds.get(id).is_some_and(|k| *k != NORMAL) {
                return Ok(Box::default());
            }
            let bytes: Option<Vec<u8>> = token
                .to_string()?
                .chars()
                .map(|c| byte_of.get(&c).copied())
                .collect();
            Ok(bytes.unwrap_or_default().into_boxed_slice())
        })
        .collect()
}

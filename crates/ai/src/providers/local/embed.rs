//! all-MiniLM-L6-v2 as sentence-transformers runs it: BERT over the
//! WordPiece tokens, the mean of the token states under the attention mask,
//! scaled to unit length.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::{file_size, LoadError};

/// Width of every vector.
pub const DIMENSIONS: usize = 384;
/// Tokens per input, `[CLS]` and `[SEP]` included; longer inputs are cut,
/// as sentence-transformers does (its `max_seq_length` for this model).
pub const MAX_INPUT_TOKENS: usize = 256;
/// Inputs per forward pass. Inputs are sorted by length first, so a batch
/// pads little.
const BATCH: usize = 32;

pub(super) struct EmbeddingModel {
    model: BertModel,
    tokenizer: Tokenizer,
}

pub(super) struct Output {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

impl EmbeddingModel {
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let started = Instant::now();
        tracing::info!(dir = %dir.display(), "loading the local embedding model");
        let invalid = |path: &Path, e: &dyn std::fmt::Display| LoadError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        };

        let config_path = dir.join("config.json");
        let config = std::fs::read(&config_path).map_err(|e| invalid(&config_path, &e))?;
        let config: Config =
            serde_json::from_slice(&config).map_err(|e| invalid(&config_path, &e))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| invalid(&tokenizer_path, &e))?;
        // The file pads and cuts everything to 128; pad per batch instead
        // (done here, by hand) and cut where sentence-transformers does.
        tokenizer.with_padding(None::<PaddingParams>);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_INPUT_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| invalid(&tokenizer_path, &e))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| invalid(&weights_path, &e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| invalid(&weights_path, &e))?;
        let model = BertModel::load(vb, &config).map_err(|e| invalid(&weights_path, &e))?;
        if config.hidden_size != DIMENSIONS {
            return Err(invalid(
                &config_path,
                &format!("hidden size {}, expected {DIMENSIONS}", config.hidden_size),
            ));
        }
        tracing::info!(
            file = %weights_path.display(),
            bytes = file_size(&weights_path),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded the local embedding model"
        );
        Ok(Self { model, tokenizer })
    }

    pub fn embed(&self, inputs: &[String]) -> candle_core::Result<Output> {
        let encodings = self
            .tokenizer
            .encode_batch(inputs.iter().map(String::as_str).collect(), true)
            .map_err(candle_core::Error::wrap)?;
        let input_tokens = encodings.iter().map(|e| e.len() as u64).sum();

        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut vectors = vec![Vec::new(); encodings.len()];
        for batch in order.chunks(BATCH) {
            let width = batch.iter().map(|&i| encodings[i].len()).max().unwrap_or(0);
            let mut ids = Vec::with_capacity(batch.len() * width);
            let mut mask = Vec::with_capacity(batch.len() * width);
            for &i in batch {
                let tokens = encodings[i].get_ids();
                ids.extend_from_slice(tokens);
                ids.resize(ids.len() + width - tokens.len(), 0);
                mask.extend(std::iter::repeat_n(1u32, tokens.len()));
                mask.resize(mask.len() + width - tokens.len(), 0);
            }
            let shape = (batch.len(), width);
            let ids = Tensor::from_vec(ids, shape, &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, shape, &Device::Cpu)?;
            let token_types = ids.zeros_like()?;
            let states = self.model.forward(&ids, &token_types, Some(&mask))?;

            // Mean over the real tokens only, then unit length.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = states.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
            let unit = mean.broadcast_div(&norm)?.to_vec2::<f32>()?;
            for (&i, vector) in batch.iter().zip(unit) {
                vectors[i] = vector;
            }
        }
        Ok(Output {
            vectors,
            input_tokens,
        })
    }
}

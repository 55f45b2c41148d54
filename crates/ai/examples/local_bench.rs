//! Throughput of the embedded models on this machine's CPU:
//!
//!     cargo run --release -p meritree-ai --example local_bench
//!
//! Reads the models from `MERITREE_AI__LOCAL__MODELS_DIR` (scripts/lib.sh
//! sets it) or the cache directory, as the tests do.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use meritree_ai::providers::local::{CHAT_MODEL, EMBEDDING_MODEL};
use meritree_ai::{ChatRequest, LocalProvider, Message, Provider, Role, StreamEvent};

const NEW_TOKENS: u32 = 128;

fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MERITREE_AI__LOCAL__MODELS_DIR").filter(|d| !d.is_empty())
    {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    cache.join("meritree").join("models")
}

/// Resident and peak resident memory, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Run {
    text: String,
    input_tokens: u64,
    output_tokens: u64,
    /// Request to first text: the prompt pass and the first token.
    first: Duration,
    /// First text to the end: every later token.
    rest: Duration,
}

async fn generate(provider: &LocalProvider, prompt: &str) -> Run {
    let request = ChatRequest {
        model: CHAT_MODEL.into(),
        messages: vec![Message::new(Role::User, prompt)],
        max_tokens: Some(NEW_TOKENS),
        temperature: Some(0.0),
        stream: true,
        ..Default::default()
    };
    let started = Instant::now();
    let mut events = provider.chat_stream(&request).await.expect("chat");
    let mut first = None;
    let mut usage = None;
    let mut text = String::new();
    while let Some(event) = events.next().await {
        match event.expect("stream") {
            StreamEvent::TextDelta { text: piece } => {
                first.get_or_insert_with(|| started.elapsed());
                text.push_str(&piece);
            }
            StreamEvent::Usage { usage: u } => usage = Some(u),
            _ => {}
        }
    }
    let total = started.elapsed();
    let first = first.expect("no text");
    let usage = usage.expect("no usage");
    Run {
        text,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        first,
        rest: total - first,
    }
}

#[tokio::main]
async fn main() {
    let dir = models_dir();
    let (rss_before, _) = memory();
    let started = Instant::now();
    let provider = match LocalProvider::load(&dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let load = started.elapsed();
    let (rss_loaded, _) = memory();
    println!("models dir:           {}", dir.display());
    println!("load (both models):   {:.2} s", load.as_secs_f64());
    println!("resident after load:  {rss_loaded:.0} MiB (before: {rss_before:.0} MiB)");

    // Warm-up: first-touch allocations and thread pools.
    generate(&provider, "Hi").await;

    let story = "Write a long story about a lighthouse keeper who finds a message in a bottle.";
    let long_prompt = format!(
        "{}\n\nSummarise the text above, then continue it.",
        "The committee met on Tuesday to review the budget, the schedule and the \
         open questions about the new library building. "
            .repeat(16)
    );
    for (label, prompt) in [
        ("short prompt", story),
        ("long prompt", long_prompt.as_str()),
    ] {
        let run = generate(&provider, prompt).await;
        // The first text needs the prompt pass plus one decoding step; the
        // later tokens measure decoding alone.
        let decode = run.rest.as_secs_f64() / (run.output_tokens.saturating_sub(1).max(1)) as f64;
        let prompt_secs = (run.first.as_secs_f64() - decode).max(1e-9);
        println!(
            "chat, {label}: {} prompt tokens at {:.0} tok/s; {} new tokens at {:.1} tok/s; \
             first text after {:.0} ms",
            run.input_tokens,
            run.input_tokens as f64 / prompt_secs,
            run.output_tokens,
            run.output_tokens.saturating_sub(1) as f64 / run.rest.as_secs_f64(),
            run.first.as_secs_f64() * 1000.0,
        );
        let sample: String = run.text.chars().take(160).collect();
        println!("  answer begins: {sample:?}");
    }

    let sentences: Vec<String> = (0..128)
        .map(|i| {
            format!(
                "Sentence number {i} talks about {} and how it relates to everyday life.",
                ["rivers", "taxes", "music", "databases"][i % 4]
            )
        })
        .collect();
    provider
        .embed(&sentences[..4], EMBEDDING_MODEL)
        .await
        .expect("embed");
    for batch in [1usize, 32] {
        let started = Instant::now();
        let mut tokens = 0;
        for chunk in sentences.chunks(batch) {
            tokens += provider
                .embed(chunk, EMBEDDING_MODEL)
                .await
                .expect("embed")
                .input_tokens;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "embeddings, batch {batch:>2}: {:.0} sentences/s ({:.0} tokens/s, {} sentences)",
            sentences.len() as f64 / secs,
            tokens as f64 / secs,
            sentences.len()
        );
    }
    let (rss, peak) = memory();
    println!("resident at the end:  {rss:.0} MiB (peak {peak:.0} MiB)");
}

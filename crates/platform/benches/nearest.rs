//! Near-duplicate search: query latency and recall of the HNSW index
//! against exact search, on clustered 384-dimension unit vectors (the shape
//! of sentence embeddings: topics, and texts spread around them).
//!
//! `cargo bench -p meritree-platform --bench nearest` (100,000 stored);
//! `NEAREST_N=1000000 cargo bench …` for a million (needs ~6 GiB);
//! `NEAREST_EFFORTS=48,96,192` measures one build at several search
//! efforts.

use std::time::{Duration, Instant};

use meritree_platform::evaluation::VectorIndex;

const DIMS: usize = 384;
const TOPICS: usize = 2_000;
const QUERIES: usize = 1_000;
/// The near-duplicate threshold's default (`work.duplicate_similarity`).
const DUPLICATE_SIMILARITY: f32 = 0.9;

/// xorshift64* and Box–Muller: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.next().max(1e-12), self.next());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }

    fn around(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        unit(
            centre
                .iter()
                .map(|c| c + spread * self.gaussian())
                .collect(),
        )
    }
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

use meritree_core::submissions::text::dot;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let n: usize = std::env::var("NEAREST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let topics: Vec<Vec<f32>> = (0..TOPICS)
        .map(|_| unit((0..DIMS).map(|_| rng.gaussian()).collect()))
        .collect();
    // Each text: its topic plus noise; neighbours within a topic have a
    // cosine of about 0.5 to 0.8, as unrelated texts on one subject do.
    let spread = 0.045;
    let stored: Vec<Vec<f32>> = (0..n)
        .map(|i| rng.around(&topics[i % TOPICS], spread))
        .collect();

    let index = VectorIndex::default();
    let started = Instant::now();
    index.add_many(
        stored
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    format!("s{i}"),
                    "a".to_owned(),
                    i as i64,
                    "m".to_owned(),
                    v.clone(),
                )
            })
            .collect(),
    );
    let build = started.elapsed();

    // Exact search's answers, once for every search effort measured.
    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|q| rng.around(&topics[(q * 7) % TOPICS], spread))
        .collect();
    let mut exact = Vec::with_capacity(QUERIES);
    let truths: Vec<usize> = queries
        .iter()
        .map(|query| {
            let started = Instant::now();
            let truth = stored
                .iter()
                .enumerate()
                .max_by(|a, b| dot(a.1, query).total_cmp(&dot(b.1, query)))
                .map(|(i, _)| i)
                .unwrap();
            exact.push(started.elapsed());
            truth
        })
        .collect();
    // Paraphrases: a stored text moved a little (cosine about 0.95 with
    // it), which the near-duplicate check must find above its threshold.
    let paraphrases: Vec<(usize, Vec<f32>)> = (0..QUERIES)
        .map(|_| {
            let of = (rng.next() * n as f64) as usize % n;
            (of, rng.around(&stored[of], 0.016))
        })
        .collect();

    println!("stored vectors                  {n} x {DIMS} (clustered in {TOPICS} topics)");
    println!("index build (parallel insert)   {build:.2?}");
    println!(
        "exact query (linear scan)       p50={:.2?} p99={:.2?}",
        percentile(&mut exact, 0.50),
        percentile(&mut exact, 0.99)
    );
    let efforts: Vec<usize> = std::env::var("NEAREST_EFFORTS")
        .ok()
        .map(|v| v.split(',').filter_map(|e| e.trim().parse().ok()).collect())
        .unwrap_or_default();
    // 0: the index's own choice.
    for effort in if efforts.is_empty() { vec![0] } else { efforts } {
        index.set_search_effort(effort);
        let mut approximate = Vec::with_capacity(QUERIES);
        let mut found = 0;
        for (query, truth) in queries.iter().zip(&truths) {
            let started = Instant::now();
            let near = index.nearest_earlier("query", i64::MAX, "m", query);
            approximate.push(started.elapsed());
            if near.is_some_and(|n| n.id == format!("s{truth}")) {
                found += 1;
            }
        }
        let mut caught = 0;
        let mut least = f32::INFINITY;
        for (of, paraphrase) in &paraphrases {
            least = least.min(dot(&stored[*of], paraphrase));
            let near = index.nearest_earlier("query", i64::MAX, "m", paraphrase);
            if near.is_some_and(|n| n.similarity >= DUPLICATE_SIMILARITY) {
                caught += 1;
            }
        }
        let effort = if effort == 0 {
            "default".to_owned()
        } else {
            effort.to_string()
        };
        println!(
            "search effort {effort:>7}: HNSW query p50={:.2?} p99={:.2?}  recall@1 {:.3} ({found}/{QUERIES})  paraphrases found >= {DUPLICATE_SIMILARITY} {caught}/{QUERIES} (least cosine {least:.3})",
            percentile(&mut approximate, 0.50),
            percentile(&mut approximate, 0.99),
            found as f64 / QUERIES as f64,
        );
    }
}

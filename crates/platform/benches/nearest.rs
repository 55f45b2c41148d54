//! Near-duplicate search: query latency and recall of the HNSW index
//! against exact search, on clustered 384-dimension unit vectors (the shape
//! of sentence embeddings: topics, and texts spread around them).
//!
//! `cargo bench -p meritree-platform --bench nearest` (100,000 stored);
//! `NEAREST_N=1000000 cargo bench …` for a million (needs ~3 GiB).

use std::time::{Duration, Instant};

use meritree_platform::evaluation::VectorIndex;

const DIMS: usize = 384;
const TOPICS: usize = 2_000;
const QUERIES: usize = 1_000;

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

    let mut approximate = Vec::with_capacity(QUERIES);
    let mut exact = Vec::with_capacity(QUERIES);
    let mut found = 0;
    for q in 0..QUERIES {
        let query = rng.around(&topics[(q * 7) % TOPICS], spread);
        let started = Instant::now();
        let near = index.nearest_earlier("query", i64::MAX, "m", &query);
        approximate.push(started.elapsed());

        let started = Instant::now();
        let truth = stored
            .iter()
            .enumerate()
            .max_by(|a, b| dot(a.1, &query).total_cmp(&dot(b.1, &query)))
            .map(|(i, _)| i)
            .unwrap();
        exact.push(started.elapsed());
        if near.is_some_and(|n| n.id == format!("s{truth}")) {
            found += 1;
        }
    }
    println!("stored vectors                  {n} x {DIMS} (clustered in {TOPICS} topics)");
    println!("index build (parallel insert)   {build:.2?}");
    println!(
        "HNSW query                      p50={:.2?} p99={:.2?}",
        percentile(&mut approximate, 0.50),
        percentile(&mut approximate, 0.99)
    );
    println!(
        "exact query (linear scan)       p50={:.2?} p99={:.2?}",
        percentile(&mut exact, 0.50),
        percentile(&mut exact, 0.99)
    );
    println!(
        "recall@1 against exact          {:.3} ({found}/{QUERIES})",
        found as f64 / QUERIES as f64
    );
}

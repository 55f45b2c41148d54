//! The in-process index of earlier work's embeddings, for near-duplicate
//! search: one HNSW graph per embedding model (vectors of different models
//! are never compared), over unit vectors, so the inner product is the
//! cosine. Rebuilt from the database at start; each instance adds what it
//! embeds and what the others announce (`live::Bridged::Vector`).
//!
//! Search is approximate: recall against exact search is measured by
//! `cargo bench -p meritree-platform --bench nearest` (docs/benchmarks.md).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;
use meritree_core::submissions::text;

/// Links per node and layer: 16 is the usual trade between memory and recall.
const LINKS: usize = 16;
const LAYERS: usize = 16;
/// Candidates kept while inserting and searching; higher finds more of the
/// true neighbours at a higher cost.
const EF_CONSTRUCTION: usize = 200;
const EF_SEARCH: usize = 48;
/// Neighbours asked for; the filter keeps only earlier work.
const NEIGHBOURS: usize = 8;

/// `1 - a·b` for unit vectors, never negative (rounding can make `a·b`
/// exceed 1 for near-identical vectors).
#[derive(Default, Clone, Copy)]
pub struct InnerProduct;

impl Distance<f32> for InnerProduct {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - text::dot(a, b)).max(0.0)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    account_id: String,
    seq: i64,
}

struct ModelIndex {
    graph: Hnsw<'static, f32, InnerProduct>,
    dims: usize,
    /// By the graph's data id.
    entries: Vec<Entry>,
}

/// The nearest earlier work found.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: String,
    pub account_id: String,
    pub similarity: f32,
}

#[derive(Clone, Default)]
pub struct VectorIndex {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    models: HashMap<String, ModelIndex>,
    ids: HashSet<String>,
}

impl VectorIndex {
    /// Adds a work's vector (normalised here); a second add of one id, or a
    /// vector of another length than the model's, is ignored.
    pub fn add(&self, id: &str, account_id: &str, seq: i64, model: &str, vector: Vec<f32>) {
        let vector = text::unit(vector);
        let mut inner = self.inner.write().expect("index lock");
        if inner.ids.contains(id) {
            return;
        }
        let index = inner
            .models
            .entry(model.to_owned())
            .or_insert_with(|| ModelIndex {
                graph: Hnsw::new(LINKS, 100_000, LAYERS, EF_CONSTRUCTION, InnerProduct),
                dims: vector.len(),
                entries: Vec::new(),
            });
        if vector.len() != index.dims || vector.is_empty() {
            tracing::warn!(submission = %id, model, "an embedding of another length was not indexed");
            return;
        }
        let data_id = index.entries.len();
        index.entries.push(Entry {
            id: id.to_owned(),
            account_id: account_id.to_owned(),
            seq,
        });
        index.graph.insert_slice((&vector, data_id));
        inner.ids.insert(id.to_owned());
    }

    /// Adds many works at once, inserting in parallel (the rebuild at start).
    /// Each row is `(id, account_id, seq, model, vector)`.
    pub fn add_many(&self, rows: Vec<(String, String, i64, String, Vec<f32>)>) {
        let mut inner = self.inner.write().expect("index lock");
        let mut batches: HashMap<String, Vec<(Vec<f32>, usize)>> = HashMap::new();
        for (id, account_id, seq, model, vector) in rows {
            let vector = text::unit(vector);
            if vector.is_empty() || inner.ids.contains(&id) {
                continue;
            }
            let index = inner
                .models
                .entry(model.clone())
                .or_insert_with(|| ModelIndex {
                    graph: Hnsw::new(LINKS, 100_000, LAYERS, EF_CONSTRUCTION, InnerProduct),
                    dims: vector.len(),
                    entries: Vec::new(),
                });
            if vector.len() != index.dims {
                continue;
            }
            let data_id = index.entries.len();
            index.entries.push(Entry {
                id: id.clone(),
                account_id,
                seq,
            });
            inner.ids.insert(id);
            batches.entry(model).or_default().push((vector, data_id));
        }
        for (model, batch) in batches {
            let slices: Vec<(&[f32], usize)> =
                batch.iter().map(|(v, i)| (v.as_slice(), *i)).collect();
            inner.models[&model].graph.parallel_insert_slice(&slices);
        }
    }

    /// The most similar work of the same model that arrived before `seq`.
    pub fn nearest_earlier(
        &self,
        id: &str,
        seq: i64,
        model: &str,
        vector: &[f32],
    ) -> Option<Neighbour> {
        let query = text::unit(vector.to_vec());
        let inner = self.inner.read().expect("index lock");
        let index = inner.models.get(model)?;
        if query.len() != index.dims {
            return None;
        }
        let earlier = |data_id: &usize| {
            index
                .entries
                .get(*data_id)
                .is_some_and(|e| e.seq < seq && e.id != id)
        };
        // Nearly all stored work is earlier than the work being checked:
        // search unfiltered and keep the earlier ones, and only when none of
        // the neighbours is earlier search again with the filter (which
        // explores much more of the graph).
        let mut found: Vec<_> = index
            .graph
            .search(&query, NEIGHBOURS, EF_SEARCH)
            .into_iter()
            .filter(|n| earlier(&n.d_id))
            .collect();
        if found.is_empty() {
            found = index
                .graph
                .search_filter(&query, NEIGHBOURS, EF_SEARCH, Some(&earlier));
        }
        let best = found
            .into_iter()
            .min_by(|a, b| a.distance.total_cmp(&b.distance))?;
        let entry = index.entries.get(best.d_id)?;
        Some(Neighbour {
            id: entry.id.clone(),
            account_id: entry.account_id.clone(),
            similarity: 1.0 - best.distance,
        })
    }

    /// Work of the same model that arrived after `seq` yet is already
    /// indexed, at or above `threshold`: copies of this work whose
    /// originality was checked before this work's was (their jobs ran
    /// first), so they found nothing earlier.
    pub fn similar_later(
        &self,
        id: &str,
        seq: i64,
        model: &str,
        vector: &[f32],
        threshold: f32,
    ) -> Vec<Neighbour> {
        let query = text::unit(vector.to_vec());
        let inner = self.inner.read().expect("index lock");
        let Some(index) = inner.models.get(model) else {
            return Vec::new();
        };
        if query.len() != index.dims {
            return Vec::new();
        }
        index
            .graph
            .search(&query, NEIGHBOURS, EF_SEARCH)
            .into_iter()
            .filter(|n| 1.0 - n.distance >= threshold)
            .filter_map(|n| {
                let entry = index.entries.get(n.d_id)?;
                (entry.seq > seq && entry.id != id).then(|| Neighbour {
                    id: entry.id.clone(),
                    account_id: entry.account_id.clone(),
                    similarity: 1.0 - n.distance,
                })
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("index lock").ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_most_similar_earlier_work_of_the_same_model() {
        let index = VectorIndex::default();
        index.add("a", "x", 1, "m", vec![1.0, 0.0, 0.0]);
        index.add("b", "y", 2, "m", vec![0.6, 0.8, 0.0]);
        index.add("c", "y", 3, "other", vec![0.0, 1.0]);
        index.add("late", "z", 9, "m", vec![0.0, 1.0, 0.0]);
        let near = index
            .nearest_earlier("new", 5, "m", &[0.0, 2.0, 0.0])
            .unwrap();
        assert_eq!(near.id, "b");
        assert!((near.similarity - 0.8).abs() < 1e-6);
        assert_eq!(index.nearest_earlier("a", 1, "m", &[1.0, 0.0, 0.0]), None);
        assert_eq!(
            index.nearest_earlier("new", 5, "unknown", &[1.0, 0.0, 0.0]),
            None
        );
        // Another length than the model's is never compared.
        index.add("d", "y", 4, "m", vec![1.0, 0.0]);
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn identical_vectors_are_similarity_one_not_a_panic() {
        let index = VectorIndex::default();
        let v = vec![0.3_f32; 384];
        index.add("a", "x", 1, "m", v.clone());
        let near = index.nearest_earlier("b", 2, "m", &v).unwrap();
        assert!((near.similarity - 1.0).abs() < 1e-5);
    }
}

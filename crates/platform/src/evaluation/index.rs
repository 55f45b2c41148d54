//! The in-process index of earlier work's embeddings, for near-duplicate
//! search. Vectors are unit length, so the inner product is the cosine.
//! Rebuilt from the database at start; each instance adds what it embeds.
//!
//! Exact search over every vector of the same model: recall 1 by
//! construction, linear in the number of stored works.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use meritree_core::submissions::text;

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    account_id: String,
    seq: i64,
    model: String,
    vector: Arc<[f32]>,
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
    entries: Vec<Entry>,
    ids: HashSet<String>,
}

impl VectorIndex {
    /// Adds a work's vector (normalised here); a second add of one id is
    /// ignored.
    pub fn add(&self, id: &str, account_id: &str, seq: i64, model: &str, vector: Vec<f32>) {
        let mut inner = self.inner.write().expect("index lock");
        if !inner.ids.insert(id.to_owned()) {
            return;
        }
        inner.entries.push(Entry {
            id: id.to_owned(),
            account_id: account_id.to_owned(),
            seq,
            model: model.to_owned(),
            vector: text::unit(vector).into(),
        });
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
        inner
            .entries
            .iter()
            .filter(|e| {
                e.id != id && e.model == model && e.vector.len() == query.len() && e.seq < seq
            })
            .map(|e| {
                let similarity: f32 = e.vector.iter().zip(&query).map(|(a, b)| a * b).sum();
                (e, similarity)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(e, similarity)| Neighbour {
                id: e.id.clone(),
                account_id: e.account_id.clone(),
                similarity,
            })
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("index lock").entries.len()
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
        index.add("c", "y", 3, "other", vec![0.0, 1.0, 0.0]);
        index.add("late", "z", 9, "m", vec![0.0, 1.0, 0.0]);
        let near = index
            .nearest_earlier("new", 5, "m", &[0.0, 2.0, 0.0])
            .unwrap();
        assert_eq!(near.id, "b");
        assert!((near.similarity - 0.8).abs() < 1e-6);
        assert_eq!(index.nearest_earlier("a", 1, "m", &[1.0, 0.0, 0.0]), None);
    }
}

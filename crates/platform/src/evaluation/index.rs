//! The in-process index of earlier work's embeddings, for near-duplicate
//! search: one HNSW graph per embedding model (vectors of different models
//! are never compared), over unit vectors, so the inner product is the
//! cosine. Saved under the data directory when the server stops and loaded
//! at start, then completed from the database (rebuilt from it when no
//! save can be used); each instance adds what it embeds and what the
//! others announce (`live::Bridged::Vector`).
//!
//! Search is approximate: recall against exact search is measured by
//! `cargo bench -p meritree-platform --bench nearest` (docs/benchmark-notes.md).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use meritree_core::submissions::text;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Links per node and layer: 16 is the usual trade between memory and recall.
const LINKS: usize = 16;
const LAYERS: usize = 16;
/// Candidates kept while inserting and searching; higher finds more of the
/// true neighbours at a higher cost. Inserting is most of the originality
/// stage's time, and 100 (half the usual 200) still finds the exact nearest
/// for every query at 100,000 vectors (docs/benchmark-notes.md).
const EF_CONSTRUCTION: usize = 100;

/// Candidates a search keeps for a graph of `stored` vectors. A search
/// must look at more of a larger graph to find the exact nearest: 48
/// finds it for every query at 100,000 vectors, but for 61% at 1,000,000,
/// where 512 finds it for 96% in a p99 of 7.3 ms (docs/benchmark-notes.md). So
/// the effort grows with the graph, one candidate per 1,953 vectors, from
/// 48; it stops at 1,024 (twice what was measured) to bound a query's time.
fn search_effort_for(stored: usize) -> usize {
    (stored.saturating_mul(512) / 1_000_000).clamp(48, 1_024)
}
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    id: String,
    account_id: String,
    seq: i64,
}

struct ModelIndex {
    graph: Hnsw<'static, f32, InnerProduct>,
    dims: usize,
    /// By the graph's data id. An entry is pushed before its vector enters
    /// the graph, so every id a search finds has one.
    entries: RwLock<Vec<Entry>>,
}

impl ModelIndex {
    fn new(dims: usize) -> Self {
        Self {
            graph: Hnsw::new(LINKS, 100_000, LAYERS, EF_CONSTRUCTION, InnerProduct),
            dims,
            entries: RwLock::default(),
        }
    }
}

/// What [`VectorIndex::neighbourhood`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Neighbourhood {
    pub earlier: Option<Neighbour>,
    pub similar_later: Vec<Neighbour>,
}

/// A work found near another.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: String,
    pub account_id: String,
    pub similarity: f32,
}

#[derive(Clone, Default)]
pub struct VectorIndex {
    inner: Arc<RwLock<Inner>>,
    /// Candidates a search keeps when set; [`search_effort_for`] the
    /// graph's size otherwise.
    search_effort: Arc<AtomicUsize>,
}

/// Adding a model, saving, loading and clearing take the write lock;
/// searches and adds share the read lock (the graph locks its own nodes),
/// so the evaluations in flight insert and search at once.
#[derive(Default)]
struct Inner {
    models: HashMap<String, ModelIndex>,
    ids: Mutex<HashSet<String>>,
}

impl VectorIndex {
    /// Adds a work's vector (normalised here); a second add of one id, or a
    /// vector of another length than the model's, is ignored.
    pub fn add(&self, id: &str, account_id: &str, seq: i64, model: &str, vector: Vec<f32>) {
        let vector = text::unit(vector);
        if vector.is_empty() {
            return;
        }
        if !self
            .inner
            .read()
            .expect("index lock")
            .models
            .contains_key(model)
        {
            self.inner
                .write()
                .expect("index lock")
                .models
                .entry(model.to_owned())
                .or_insert_with(|| ModelIndex::new(vector.len()));
        }
        let inner = self.inner.read().expect("index lock");
        // Gone only if the index was cleared meanwhile.
        let Some(index) = inner.models.get(model) else {
            return;
        };
        if vector.len() != index.dims {
            tracing::warn!(submission = %id, model, "an embedding of another length was not indexed");
            return;
        }
        if !inner.ids.lock().expect("index ids").insert(id.to_owned()) {
            return;
        }
        let data_id = {
            let mut entries = index.entries.write().expect("index entries");
            entries.push(Entry {
                id: id.to_owned(),
                account_id: account_id.to_owned(),
                seq,
            });
            entries.len() - 1
        };
        // Exploring the graph for a millisecond or more, under the shared
        // lock: a save (under the write lock) waits for it, so it never
        // writes an entry whose vector is not in the graph yet.
        index.graph.insert_slice((&vector, data_id));
    }

    /// Adds many works at once, inserting in parallel (the rebuild at start).
    /// Each row is `(id, account_id, seq, model, vector)`.
    pub fn add_many(&self, rows: Vec<(String, String, i64, String, Vec<f32>)>) {
        let mut inner = self.inner.write().expect("index lock");
        let inner = &mut *inner;
        let ids = inner.ids.get_mut().expect("index ids");
        let mut batches: HashMap<String, Vec<(Vec<f32>, usize)>> = HashMap::new();
        for (id, account_id, seq, model, vector) in rows {
            let vector = text::unit(vector);
            if vector.is_empty() || ids.contains(&id) {
                continue;
            }
            let index = inner
                .models
                .entry(model.clone())
                .or_insert_with(|| ModelIndex::new(vector.len()));
            if vector.len() != index.dims {
                continue;
            }
            let entries = index.entries.get_mut().expect("index entries");
            entries.push(Entry {
                id: id.clone(),
                account_id,
                seq,
            });
            let data_id = entries.len() - 1;
            ids.insert(id);
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
        self.neighbourhood(id, seq, model, vector, f32::INFINITY)
            .earlier
    }

    /// What one search of the graph around a work finds: the most similar
    /// earlier work, and later work at or above `threshold` that is already
    /// indexed — copies of this work whose originality was checked before
    /// this work's was (their jobs ran first), so they found nothing
    /// earlier.
    pub fn neighbourhood(
        &self,
        id: &str,
        seq: i64,
        model: &str,
        vector: &[f32],
        threshold: f32,
    ) -> Neighbourhood {
        let query = text::unit(vector.to_vec());
        let inner = self.inner.read().expect("index lock");
        let Some(index) = inner.models.get(model) else {
            return Neighbourhood::default();
        };
        if query.len() != index.dims {
            return Neighbourhood::default();
        }
        let effort = self.search_effort(index.graph.get_nb_point());
        let found = index.graph.search(&query, NEIGHBOURS, effort);
        // Read after the search, which adds do not wait for.
        let entries = index.entries.read().expect("index entries");
        let neighbour = |data_id: usize, distance: f32| {
            entries.get(data_id).map(|entry| Neighbour {
                id: entry.id.clone(),
                account_id: entry.account_id.clone(),
                similarity: 1.0 - distance,
            })
        };
        let earlier = |data_id: &usize| {
            entries
                .get(*data_id)
                .is_some_and(|e| e.seq < seq && e.id != id)
        };
        let similar_later = found
            .iter()
            .filter(|n| 1.0 - n.distance >= threshold)
            .filter(|n| {
                entries
                    .get(n.d_id)
                    .is_some_and(|e| e.seq > seq && e.id != id)
            })
            .filter_map(|n| neighbour(n.d_id, n.distance))
            .collect();
        // Nearly all stored work is earlier than the work being checked:
        // keep the earlier ones of that search, and only when none of the
        // neighbours is earlier search again with the filter (which explores
        // much more of the graph).
        let mut earliers: Vec<_> = found.into_iter().filter(|n| earlier(&n.d_id)).collect();
        if earliers.is_empty() {
            earliers = index
                .graph
                .search_filter(&query, NEIGHBOURS, effort, Some(&earlier));
        }
        let earlier = earliers
            .into_iter()
            .min_by(|a, b| a.distance.total_cmp(&b.distance))
            .and_then(|best| neighbour(best.d_id, best.distance));
        Neighbourhood {
            earlier,
            similar_later,
        }
    }

    /// Sets how many candidates a search keeps (the benchmark measures
    /// recall and latency at several).
    pub fn set_search_effort(&self, candidates: usize) {
        self.search_effort.store(candidates, Ordering::Relaxed);
    }

    fn search_effort(&self, stored: usize) -> usize {
        match self.search_effort.load(Ordering::Relaxed) {
            0 => search_effort_for(stored),
            set => set.max(NEIGHBOURS),
        }
    }

    pub fn len(&self) -> usize {
        self.with_ids(HashSet::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What is saved next to a model's graph files: enough to use the graph
/// again, and to tell whether the files are the ones written with it.
#[derive(Serialize, Deserialize)]
struct Manifest {
    model: String,
    dims: usize,
    /// The graph's files are `<basename>.hnsw.graph` and `.hnsw.data`.
    basename: String,
    /// SHA-256 of the graph file, then the data file, in hex.
    sha256: String,
    /// By the graph's data id.
    entries: Vec<Entry>,
}

impl VectorIndex {
    /// Writes every model's graph under `dir`, replacing the last save.
    /// Blocking: seconds for 100,000 vectors, while additions and searches
    /// wait (it runs after the rebuild at start and when the server stops).
    /// Under the write lock, so no insert is half done in what it writes. A
    /// model's manifest is written last and renamed into place, so a crash
    /// mid-save leaves the previous save whole (or files a load refuses).
    pub fn save(&self, dir: &Path) -> std::io::Result<usize> {
        std::fs::create_dir_all(dir)?;
        let inner = self.inner.write().expect("index lock");
        let stamp = crate::clock::unix_ms();
        let mut saved = 0;
        for (model, index) in &inner.models {
            let name = manifest_name(model);
            let basename = format!("{name}-{stamp}");
            index
                .graph
                .file_dump(dir, &basename)
                .map_err(std::io::Error::other)?;
            let manifest = Manifest {
                model: model.clone(),
                dims: index.dims,
                sha256: files_digest(dir, &basename)?,
                basename,
                entries: index.entries.read().expect("index entries").clone(),
            };
            let path = dir.join(format!("{name}.json"));
            let previous = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok());
            let temporary = dir.join(format!("{name}.json.tmp"));
            std::fs::write(&temporary, serde_json::to_vec(&manifest)?)?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            if let Some(previous) = previous.filter(|p| p.basename != manifest.basename) {
                for file in graph_files(dir, &previous.basename) {
                    let _ = std::fs::remove_file(file);
                }
            }
            saved += manifest.entries.len();
        }
        Ok(saved)
    }

    /// Adds the graphs saved under `dir` to this (empty) index; how many
    /// vectors they held. A model whose files are missing, altered or
    /// unreadable is left out (and logged): the caller adds whatever the
    /// database holds that the loaded graphs lack.
    pub fn load(&self, dir: &Path) -> usize {
        let Ok(listing) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut inner = self.inner.write().expect("index lock");
        for path in listing.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match load_model(dir, &path) {
                Ok((model, index)) => {
                    let entries = index.entries.read().expect("index entries");
                    let ids = entries.iter().map(|e| e.id.clone());
                    inner.ids.get_mut().expect("index ids").extend(ids);
                    drop(entries);
                    inner.models.insert(model, index);
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "a saved near-duplicate index was not loaded; it is rebuilt from the database")
                }
            }
        }
        inner.ids.get_mut().expect("index ids").len()
    }

    /// Empties the index.
    pub fn clear(&self) {
        *self.inner.write().expect("index lock") = Inner::default();
    }

    /// The ids of every indexed work.
    pub fn ids(&self) -> HashSet<String> {
        self.with_ids(HashSet::clone)
    }

    fn with_ids<R>(&self, read: impl FnOnce(&HashSet<String>) -> R) -> R {
        read(
            &self
                .inner
                .read()
                .expect("index lock")
                .ids
                .lock()
                .expect("index ids"),
        )
    }
}

fn load_model(dir: &Path, path: &Path) -> Result<(String, ModelIndex), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let digest = files_digest(dir, &manifest.basename).map_err(|e| e.to_string())?;
    if digest != manifest.sha256 {
        return Err("the graph files are not the ones saved with this manifest".into());
    }
    // The loader's graph borrows it for as long as the graph lives (for
    // memory-mapped data, unused here), and the index lives until the
    // process ends: the loader, a few bytes, is leaked once per model.
    let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, &manifest.basename)));
    // The loader asserts on what it reads; files that passed the digest
    // check should never trip it, but a panic must not stop the server.
    let graph = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let loader = loader;
        loader.load_hnsw::<f32, InnerProduct>()
    }))
    .map_err(|_| "the graph files could not be read".to_owned())?
    .map_err(|e| e.to_string())?;
    if graph.get_nb_point() != manifest.entries.len() {
        return Err(format!(
            "the graph holds {} vectors, the manifest names {}",
            graph.get_nb_point(),
            manifest.entries.len()
        ));
    }
    Ok((
        manifest.model,
        ModelIndex {
            graph,
            dims: manifest.dims,
            entries: RwLock::new(manifest.entries),
        },
    ))
}

/// A file name for a model's manifest: model names hold `/` and more.
fn manifest_name(model: &str) -> String {
    let digest = Sha256::digest(model.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn graph_files(dir: &Path, basename: &str) -> [std::path::PathBuf; 2] {
    [
        dir.join(format!("{basename}.hnsw.graph")),
        dir.join(format!("{basename}.hnsw.data")),
    ]
}

fn files_digest(dir: &Path, basename: &str) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    for file in graph_files(dir, basename) {
        let mut reader = std::fs::File::open(file)?;
        std::io::copy(&mut reader, &mut hasher)?;
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_larger_graph_is_searched_harder_within_bounds() {
        assert_eq!(search_effort_for(0), 48);
        assert_eq!(search_effort_for(100_000), 51);
        assert_eq!(search_effort_for(1_000_000), 512);
        assert_eq!(search_effort_for(usize::MAX), 1_024);
    }

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
    fn a_saved_index_loads_with_the_same_answers_and_altered_files_are_refused() {
        let index = VectorIndex::default();
        let rows: Vec<_> = (0..300_u32)
            .map(|i| {
                let v: Vec<f32> = (0..16)
                    .map(|d| ((i * 7 + d * 13) % 17) as f32 - 8.0)
                    .collect();
                (
                    format!("w{i}"),
                    format!("a{}", i % 5),
                    i64::from(i),
                    "m/e".to_owned(),
                    v,
                )
            })
            .collect();
        index.add_many(rows.clone());
        index.add("x", "b", 999, "other/model", vec![1.0, 2.0]);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(index.save(dir.path()).unwrap(), 301);
        // A second save replaces the first's files.
        std::thread::sleep(std::time::Duration::from_millis(2));
        index.save(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 6);

        let loaded = VectorIndex::default();
        assert_eq!(loaded.load(dir.path()), 301);
        assert_eq!(loaded.ids(), index.ids());
        for (id, _, seq, model, v) in rows.iter().step_by(37) {
            assert_eq!(
                loaded.nearest_earlier(id, *seq, model, v),
                index.nearest_earlier(id, *seq, model, v)
            );
        }
        // It goes on growing.
        loaded.add("late", "c", 1_000, "m/e", vec![1.0; 16]);
        assert_eq!(loaded.len(), 302);

        // One byte changed in a graph file: that model is not loaded.
        let data = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".hnsw.data"))
            .unwrap();
        let mut bytes = std::fs::read(&data).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&data, bytes).unwrap();
        let partial = VectorIndex::default();
        let held = partial.load(dir.path());
        assert!(held == 300 || held == 1, "{held}");
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

//! What "the same text" means: a normal form that ignores case, spacing,
//! punctuation and Markdown markup, its fingerprint for exact copies, and
//! the cosine similarity of embeddings for near-duplicates.

use sha2::{Digest, Sha256};

/// Lower case, letters and digits only, words separated by one space. Two
/// works with the same normal form are copies whatever their formatting.
pub fn normalise(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(title.len() + body.len() + 1);
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .chain(body.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// The SHA-256 of the normal form, in hex: equal for exact copies.
pub fn fingerprint(title: &str, body: &str) -> String {
    let digest = Sha256::digest(normalise(title, body).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Cosine similarity of two vectors of the same length; 0 for an empty or
/// zero vector, so a missing embedding never counts as a copy.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0.0_f32, 0.0_f32, 0.0_f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    dot / (aa.sqrt() * bb.sqrt())
}

/// The inner product (over the shorter length). The near-duplicate index
/// spends most of its time here, so on x86-64 CPUs with AVX2 and FMA (all
/// from the last decade) it runs in 256-bit registers; builds target the
/// baseline x86-64, which has only 128-bit SSE2.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features, checked just above.
        return unsafe { dot_avx2_fma(a, b) };
    }
    dot_in_lanes(a, b)
}

/// Summed in eight lanes so the compiler can use SIMD (a single running
/// sum must keep the order of its additions).
fn dot_in_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Four sums of eight lanes, so consecutive fused multiply-adds do not wait
/// for each other.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let n = a.len().min(b.len());
    let (a, b) = (a.as_ptr(), b.as_ptr());
    let mut sums = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (every load): `i + 8 <= n`, within both slices.
    while i + 32 <= n {
        for (k, sum) in sums.iter_mut().enumerate() {
            let at = i + 8 * k;
            *sum = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(at)), _mm256_loadu_ps(b.add(at)), *sum);
        }
        i += 32;
    }
    while i + 8 <= n {
        sums[0] = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i)),
            _mm256_loadu_ps(b.add(i)),
            sums[0],
        );
        i += 8;
    }
    let total = _mm256_add_ps(
        _mm256_add_ps(sums[0], sums[1]),
        _mm256_add_ps(sums[2], sums[3]),
    );
    let mut lanes = [0.0_f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), total);
    let mut sum: f32 = lanes.iter().sum();
    while i < n {
        sum += *a.add(i) * *b.add(i);
        i += 1;
    }
    sum
}

/// Scales `v` to unit length (left as is when it is zero), so the inner
/// product of two stored vectors is their cosine.
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Little-endian f32s: how vectors are stored in either database.
pub fn vector_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The inverse of [`vector_to_bytes`]; `None` for a length that is not a
/// whole number of f32s or a value that is not finite.
pub fn vector_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    bytes
        .chunks_exact(4)
        .map(|c| {
            let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            x.is_finite().then_some(x)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector unit's sum is the plain one, but for rounding.
        #[test]
        fn dot_is_the_inner_product(
            pairs in prop::collection::vec((-1.0_f32..1.0, -1.0_f32..1.0), 0..400),
        ) {
            let (a, b): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            prop_assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-4);
            prop_assert!((f64::from(dot_in_lanes(&a, &b)) - plain).abs() < 1e-4);
        }
    }

    #[test]
    fn copies_with_other_formatting_share_a_fingerprint() {
        let a = fingerprint("My Poem", "# Roses\n\nare *red*,  violets are blue.");
        let b = fingerprint("my poem!", "Roses are red — violets ARE blue");
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("My Poem", "Roses are red, violets are green.")
        );
        assert_eq!(normalise("Été", "ÇA va"), "été ça va");
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }

    proptest! {
        #[test]
        fn vectors_survive_storage(v in proptest::collection::vec(-1e6_f32..1e6, 0..64)) {
            prop_assert_eq!(vector_from_bytes(&vector_to_bytes(&v)), Some(v));
        }

        #[test]
        fn the_lane_sum_is_the_inner_product(
            a in proptest::collection::vec(-10.0_f32..10.0, 0..40),
        ) {
            let b: Vec<f32> = a.iter().rev().copied().collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            prop_assert!((dot(&a, &b) - plain).abs() <= 1e-3 * (1.0 + plain.abs()));
        }

        #[test]
        fn unit_vectors_have_cosine_as_inner_product(
            a in proptest::collection::vec(-10.0_f32..10.0, 8),
            b in proptest::collection::vec(-10.0_f32..10.0, 8),
        ) {
            let (ua, ub) = (unit(a.clone()), unit(b.clone()));
            let dot: f32 = ua.iter().zip(&ub).map(|(x, y)| x * y).sum();
            prop_assert!((dot - cosine(&a, &b)).abs() < 1e-4);
        }
    }

    #[test]
    fn stored_garbage_is_refused() {
        assert_eq!(vector_from_bytes(&[0, 0, 0]), None);
        assert_eq!(vector_from_bytes(&f32::NAN.to_le_bytes()), None);
    }
}

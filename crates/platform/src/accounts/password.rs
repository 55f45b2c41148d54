//! Password hashing with Argon2id.
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane — OWASP's first
//! recommended Argon2id configuration. Measured cost in docs/benchmark-notes.md.
//! Hashes are PHC strings, so parameters can rise later while old hashes
//! still verify.

use std::sync::{LazyLock, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and checks running at once: each holds 19 MiB while it runs, and
/// the blocking pool would run hundreds at once (a flood of sign-ins,
/// gigabytes). More than the cores gains no throughput; the rest wait
/// their turn without holding anything.
static SLOTS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    tokio::sync::Semaphore::new(cores.max(2))
});

/// Runs `work` (a hash or a check: tens of milliseconds of CPU) on the
/// blocking pool once one of the [`SLOTS`] is free.
async fn in_a_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let _slot = SLOTS.acquire().await.expect("the slots are never closed");
    tokio::task::spawn_blocking(work)
        .await
        .expect("hashing does not panic")
}

pub async fn hash(password: String) -> String {
    in_a_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 hashes any password up to the policy's length")
            .to_string()
    })
    .await
}

/// Verifies against a stored hash; against a throwaway hash when there is
/// none, so an unknown email costs the same time as a wrong password.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    in_a_slot(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(b"no account has this password", &salt)
            .expect("hash")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery".into()).await;
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("correct horse batterz".into(), Some(stored)).await);
        assert!(!verify("anything".into(), None).await);
        assert!(!verify("anything".into(), Some("not a phc string".into())).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_hashes_runs_a_few_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let flood = (0..64).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(in_a_slot(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        for job in flood.collect::<Vec<_>>() {
            job.await.unwrap();
        }
        let slots = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .max(2);
        let most = most.load(Ordering::SeqCst);
        assert!(most >= 1 && most <= slots, "{most} at once, {slots} slots");
    }
}

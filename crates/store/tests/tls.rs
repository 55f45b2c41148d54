//! PostgreSQL over TLS: a URL asking for a verified certificate gets an
//! encrypted connection to a server whose certificate the named root
//! signed, and is refused by one nobody vouches for.

use std::time::Duration;

use meritree_store::{Database, DatabaseTarget, PoolOptions};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"))
}

#[tokio::test]
async fn postgres_connections_can_require_a_verified_certificate() {
    let url = env("MERITREE_TEST_POSTGRES_URL");
    let ca = env("MERITREE_TEST_POSTGRES_CA");
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let db = Database::connect(
        &DatabaseTarget::parse(&verified).unwrap(),
        PoolOptions::default(),
    )
    .await
    .unwrap();
    let Database::Postgres(pool) = &db else {
        unreachable!()
    };
    let (encrypted,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(encrypted);
    db.close().await;

    // The system's roots do not vouch for this server's certificate.
    let unverified = format!("{url}?sslmode=verify-full");
    let options = PoolOptions {
        acquire_timeout: Duration::from_secs(3),
        ..PoolOptions::default()
    };
    assert!(
        Database::connect(&DatabaseTarget::parse(&unverified).unwrap(), options)
            .await
            .is_err()
    );
}

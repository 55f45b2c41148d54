//! Redis over TLS (`rediss://`): the server's certificate must be one the
//! machine trusts (its roots, or the file in `SSL_CERT_FILE`).

use meritree_platform::rate_limit::{Quota, RateLimiter};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"))
}

#[tokio::test]
async fn redis_over_tls_needs_a_trusted_certificate() {
    let url = env("MERITREE_TEST_REDIS_TLS_URL");
    assert!(url.starts_with("rediss://"), "{url}");
    // Nobody vouches for the server's self-signed certificate yet.
    assert!(RateLimiter::redis(&url).await.is_err());

    // This test's own process (nextest runs each test alone).
    std::env::set_var("SSL_CERT_FILE", env("MERITREE_TEST_REDIS_CA"));
    let limiter = RateLimiter::redis(&url).await.unwrap();
    let decision = limiter
        .check("tls-test", Quota::per_minute(5))
        .await
        .unwrap();
    assert!(decision.allowed);
}

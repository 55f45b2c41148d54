//! A chain configured with several RPC endpoints keeps answering when the
//! one in use goes away, and refuses endpoints that serve another chain.

use std::net::TcpListener;
use std::path::Path;

use alloy::providers::Provider;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::{Chain, ChainError};

/// An address where nothing listens.
fn nothing_listening() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

async fn anvil() -> Anvil {
    let binary = anvil::binary_for_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    Anvil::start(&AnvilOptions::new(binary)).await.unwrap()
}

#[tokio::test]
async fn requests_fail_over_to_the_next_endpoint_and_stay_there() {
    let (first, second) = (anvil().await, anvil().await);
    let dead = nothing_listening();
    // The preferred endpoint is down from the start: the next answers.
    let chain = Chain::connect_any(&[dead.clone(), first.url().to_owned()], anvil::CHAIN_ID)
        .await
        .unwrap();
    assert_eq!(chain.provider().get_block_number().await.unwrap(), 0);

    // The one in use goes away mid-life: the next one takes over.
    let chain = Chain::connect_any(
        &[first.url().to_owned(), second.url().to_owned()],
        anvil::CHAIN_ID,
    )
    .await
    .unwrap();
    first.stop().await;
    assert_eq!(
        chain.provider().get_chain_id().await.unwrap(),
        anvil::CHAIN_ID
    );
    assert_eq!(chain.provider().get_block_number().await.unwrap(), 0);

    // All of them down: a clear error, not a hang.
    second.stop().await;
    assert!(chain.provider().get_block_number().await.is_err());
    assert!(matches!(
        Chain::connect_any(&[dead], anvil::CHAIN_ID).await,
        Err(ChainError::Rpc(_))
    ));
}

#[tokio::test]
async fn endpoints_of_another_chain_are_refused() {
    let other = anvil().await;
    let refused = Chain::connect_any(&[other.url().to_owned()], 8453).await;
    assert!(matches!(
        refused,
        Err(ChainError::WrongChain {
            expected: 8453,
            actual: anvil::CHAIN_ID
        })
    ));
    // A fallback on another chain is refused too, though the first answers.
    let ours = Anvil::start(&AnvilOptions {
        chain_id: 8453,
        ..AnvilOptions::new(anvil::binary_for_tests(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        ))
    })
    .await
    .unwrap();
    let refused = Chain::connect_any(&[ours.url().to_owned(), other.url().to_owned()], 8453).await;
    assert!(matches!(
        refused,
        Err(ChainError::WrongChain {
            expected: 8453,
            actual: anvil::CHAIN_ID
        })
    ));
    assert!(matches!(
        Chain::connect_any(&["not a url".into()], 1).await,
        Err(ChainError::InvalidUrl(_))
    ));
    other.stop().await;
    ours.stop().await;
}

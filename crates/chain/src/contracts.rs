//! Bindings to the project's contracts, generated from the committed
//! artifacts (`contracts/artifacts`, checked against the sources in CI), so
//! the Rust calls and the deployed code cannot drift apart.

use alloy::sol;

use crate::deploy::Artifact;

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    RewardDistributor,
    "../../contracts/artifacts/RewardDistributor.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    RewardToken,
    "../../contracts/artifacts/RewardToken.json"
);

/// The artifacts the embedded chain deploys.
pub fn reward_distributor_artifact() -> Artifact {
    Artifact::from_json(include_str!(
        "../../../contracts/artifacts/RewardDistributor.json"
    ))
    .expect("the committed artifact parses")
}

pub fn reward_token_artifact() -> Artifact {
    Artifact::from_json(include_str!(
        "../../../contracts/artifacts/RewardToken.json"
    ))
    .expect("the committed artifact parses")
}

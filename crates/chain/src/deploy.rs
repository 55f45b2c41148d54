//! Deploying the project's contracts from their compiled artifacts
//! (`contracts/artifacts/*.json`, written by `contracts/scripts/compile.mjs`).

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use crate::ChainError;

/// A compiled contract: what deploying it needs.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub bytecode: Bytes,
}

impl Artifact {
    /// Reads an artifact's JSON (`contractName`, `bytecode`, `abi`, ...).
    pub fn from_json(text: &str) -> Result<Self, ChainError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Json {
            contract_name: String,
            bytecode: Bytes,
        }
        let json: Json = serde_json::from_str(text)
            .map_err(|err| ChainError::InvalidArtifact(err.to_string()))?;
        if json.bytecode.is_empty() {
            return Err(ChainError::InvalidArtifact(format!(
                "{} has no bytecode (an interface?)",
                json.contract_name
            )));
        }
        Ok(Self {
            name: json.contract_name,
            bytecode: json.bytecode,
        })
    }
}

/// Deploys `artifact` with ABI-encoded `constructor_args` from the provider's
/// signer and waits for the receipt; returns the contract's address.
pub async fn deploy(
    provider: &impl Provider,
    artifact: &Artifact,
    constructor_args: &[u8],
) -> Result<Address, ChainError> {
    let mut code = artifact.bytecode.to_vec();
    code.extend_from_slice(constructor_args);
    let receipt = provider
        .send_transaction(TransactionRequest::default().with_deploy_code(code))
        .await?
        .get_receipt()
        .await
        .map_err(|err| ChainError::Transaction(err.to_string()))?;
    if !receipt.status() {
        return Err(ChainError::Transaction(format!(
            "deploying {} reverted",
            artifact.name
        )));
    }
    receipt.contract_address.ok_or_else(|| {
        ChainError::Transaction(format!("deploying {} gave no address", artifact.name))
    })
}

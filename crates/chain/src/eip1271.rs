//! EIP-1271: a contract wallet (Safe, a smart account) has no key of its own;
//! it says whether a signature is valid for it when asked on chain.

use alloy::primitives::{Address, Bytes, FixedBytes, B256};
use alloy::providers::Provider;
use alloy::sol;

use crate::{Chain, ChainError};

sol! {
    #[sol(rpc)]
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`, returned for a valid signature.
const MAGIC_VALUE: FixedBytes<4> = FixedBytes([0x16, 0x26, 0xba, 0x7e]);

impl Chain {
    /// Whether the contract at `signer` accepts `signature` over `hash`.
    ///
    /// An address without code, a revert, or an answer of the wrong shape is
    /// a plain "no"; only a chain that cannot be reached is an error.
    pub async fn is_valid_eip1271_signature(
        &self,
        signer: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, ChainError> {
        let code = self.provider.get_code_at(signer).await?;
        if code.is_empty() {
            return Ok(false);
        }
        let wallet = IERC1271::new(signer, &self.provider);
        match wallet
            .isValidSignature(hash, Bytes::copy_from_slice(signature))
            .call()
            .await
        {
            Ok(magic) => Ok(magic == MAGIC_VALUE),
            Err(alloy::contract::Error::TransportError(err)) if !is_revert(&err) => {
                Err(ChainError::Rpc(err))
            }
            Err(err) => {
                tracing::debug!(%signer, error = %err, "EIP-1271 check refused");
                Ok(false)
            }
        }
    }
}

/// A node reports a revert as a JSON-RPC error response, not a transport failure.
fn is_revert(err: &alloy::transports::TransportError) -> bool {
    err.as_error_resp().is_some()
}

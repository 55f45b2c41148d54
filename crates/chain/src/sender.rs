//! Signing and sending the platform's own transactions with an explicit
//! nonce and explicit fees. Which nonce and when to bump are decided by the
//! caller (the platform's outbox); this module only talks to the chain.

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxHash};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;

use crate::{Chain, ChainError};

/// The platform's key on the chain.
#[derive(Clone, Debug)]
pub struct Sender {
    chain: Chain,
    address: Address,
    wallet: EthereumWallet,
}

/// EIP-1559 fees, in wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// The fees a replacement must at least offer: nodes accept a
    /// replacement only when both fees rise by 10% or more; 12.5% leaves margin.
    pub fn bumped(self) -> Self {
        let bump = |fee: u128| fee.saturating_add(fee / 8).saturating_add(1);
        Self {
            max_fee_per_gas: bump(self.max_fee_per_gas),
            max_priority_fee_per_gas: bump(self.max_priority_fee_per_gas),
        }
    }

    /// The larger of each fee, so a bump never undercuts the current market.
    pub fn max(self, other: Self) -> Self {
        Self {
            max_fee_per_gas: self.max_fee_per_gas.max(other.max_fee_per_gas),
            max_priority_fee_per_gas: self
                .max_priority_fee_per_gas
                .max(other.max_priority_fee_per_gas),
        }
    }
}

/// A signed transaction: its hash is known before it is sent, so it can be
/// recorded first and a crash never loses track of what is on the wire.
#[derive(Debug, Clone)]
pub struct SignedTx {
    pub hash: TxHash,
    pub raw: Bytes,
}

/// Where a sent transaction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inclusion {
    Pending,
    Mined { block: u64, succeeded: bool },
}

impl Sender {
    pub fn new(chain: Chain, key: PrivateKeySigner) -> Self {
        Self {
            chain,
            address: key.address(),
            wallet: EthereumWallet::from(key),
        }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The next nonce the chain expects from this key, pending transactions included.
    pub async fn pending_nonce(&self) -> Result<u64, ChainError> {
        Ok(self
            .chain
            .provider()
            .get_transaction_count(self.address)
            .pending()
            .await?)
    }

    /// How many of this key's transactions are in blocks: every nonce below
    /// it is used for good.
    pub async fn mined_nonce(&self) -> Result<u64, ChainError> {
        Ok(self
            .chain
            .provider()
            .get_transaction_count(self.address)
            .latest()
            .await?)
    }

    /// Today's fees for a prompt inclusion.
    pub async fn current_fees(&self) -> Result<Fees, ChainError> {
        let estimate = self.chain.provider().estimate_eip1559_fees().await?;
        Ok(Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        })
    }

    /// Simulates the call; the gas it needs, or the revert as an error.
    pub async fn estimate_gas(&self, to: Address, calldata: &Bytes) -> Result<u64, ChainError> {
        let request = TransactionRequest::default()
            .with_from(self.address)
            .with_to(to)
            .with_input(calldata.clone());
        self.chain
            .provider()
            .estimate_gas(request)
            .await
            .map_err(|err| match err.as_error_resp() {
                Some(revert) => ChainError::Reverted(revert.message.to_string()),
                None => ChainError::Rpc(err),
            })
    }

    /// Signs the call with exactly this nonce, gas and fees. Signing the
    /// same nonce again with higher fees makes a replacement.
    pub async fn sign(
        &self,
        to: Address,
        calldata: &Bytes,
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<SignedTx, ChainError> {
        let envelope = TransactionRequest::default()
            .with_from(self.address)
            .with_to(to)
            .with_input(calldata.clone())
            .with_chain_id(self.chain.chain_id())
            .with_nonce(nonce)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .build(&self.wallet)
            .await
            .map_err(|err| ChainError::Transaction(err.to_string()))?;
        Ok(SignedTx {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
        })
    }

    /// Hands a signed transaction to the node. A transaction it already has,
    /// or whose nonce is already used (an earlier signature of it was mined),
    /// is not an error: the caller tracks inclusion by hash.
    pub async fn broadcast(&self, tx: &SignedTx) -> Result<(), ChainError> {
        match self.chain.provider().send_raw_transaction(&tx.raw).await {
            Ok(_) => Ok(()),
            Err(err) if is_settled_elsewhere(&err) => {
                tracing::debug!(hash = %tx.hash, error = %err, "node already has this nonce");
                Ok(())
            }
            Err(err) => Err(ChainError::Rpc(err)),
        }
    }

    /// Whether `hash` is in a block yet, and whether it succeeded.
    pub async fn inclusion(&self, hash: TxHash) -> Result<Inclusion, ChainError> {
        match self.chain.provider().get_transaction_receipt(hash).await? {
            Some(receipt) => Ok(Inclusion::Mined {
                block: receipt.block_number.unwrap_or_default(),
                succeeded: receipt.inner.status(),
            }),
            None => Ok(Inclusion::Pending),
        }
    }

    pub async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.chain.provider().get_block_number().await?)
    }

    /// The latest block's timestamp: the clock contracts see, which may
    /// differ from this machine's.
    pub async fn chain_time(&self) -> Result<u64, ChainError> {
        let block = self
            .chain
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| ChainError::Transaction("the node returned no latest block".into()))?;
        Ok(block.header.timestamp)
    }
}

fn is_settled_elsewhere(err: &alloy::transports::TransportError) -> bool {
    err.as_error_resp().is_some_and(|resp| {
        let message = resp.message.to_ascii_lowercase();
        ["already known", "already imported", "nonce too low"]
            .iter()
            .any(|m| message.contains(m))
    })
}

//! Gas-free claims: a member asks, the platform's key sends the claim and
//! pays the gas; tokens always go to the member's wallet, or to the address
//! the wallet named by signing an EIP-712 `ClaimTo`.

use super::OnChain;
use meritree_core::accounts::AccountId;
use std::str::FromStr;

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol_types::SolCall;
use meritree_chain::contracts::{RewardDistributor, RewardToken};
use meritree_chain::ChainError;
use meritree_core::claims::{ClaimStatus, ClaimView, Claimable};
use meritree_core::ErrorCode;
use meritree_store::chain_txs::{self, TxRecord};
use meritree_store::rounds::{self, LeafRecord};
use meritree_store::StoreError;

use super::publish::{contract, wallet_key};
use super::{SettlementError, TxKind};
use crate::error::{store_error_code, PublicError};

/// The most gas the platform pays for one relayed claim. A plain claim with
/// a proof for a million wallets takes about 100,000; what is left covers a
/// contract wallet's `isValidSignature`, which could otherwise burn the
/// platform's gas.
pub const RELAYED_CLAIM_GAS_CAP: u64 = 400_000;

/// How long the platform stops relaying for an account after one of its
/// relayed claims reverted on chain.
pub const RELAY_PAUSE_AFTER_REVERT_SECS: i64 = 3_600;

/// Why a claim was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("bind a wallet first: rewards are paid to a wallet")]
    NoWallet,
    #[error("nothing to claim yet")]
    NothingToClaim,
    #[error("the chain would refuse this claim: {0}")]
    Rejected(String),
    #[error("no such claim")]
    NoSuchClaim,
    /// Another claim of the account is on its way; a second would pay
    /// nothing more and fail on chain.
    #[error("a claim of yours is still being sent; wait until it is confirmed")]
    InProgress,
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error(transparent)]
    Settlement(#[from] SettlementError),
}

impl PublicError for ClaimError {
    fn code(&self) -> ErrorCode {
        match self {
            ClaimError::NoWallet => ErrorCode::NoWallet,
            ClaimError::NothingToClaim => ErrorCode::NothingToClaim,
            ClaimError::Rejected(_) => ErrorCode::ClaimRejected,
            ClaimError::NoSuchClaim => ErrorCode::NotFound,
            ClaimError::InProgress => ErrorCode::ClaimInProgress,
            ClaimError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ClaimError::Settlement(SettlementError::Store(err)) => store_error_code(err),
            ClaimError::Settlement(_) => ErrorCode::ChainUnavailable,
        }
    }
}

impl From<StoreError> for ClaimError {
    fn from(err: StoreError) -> Self {
        ClaimError::Settlement(err.into())
    }
}

/// A signed `ClaimTo`: the wallet's permission to pay `to`.
#[derive(Debug, Clone)]
pub struct ClaimToRequest {
    pub to: Address,
    pub deadline: U256,
    pub signature: Bytes,
}

impl ClaimToRequest {
    /// The three fields as clients send them: all absent (a plain claim to
    /// the account's own wallet) or all present (claim to `to`).
    pub fn parse(
        to: Option<&str>,
        deadline: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Option<Self>, ClaimError> {
        let invalid = ClaimError::InvalidRequest;
        match (to, deadline, signature) {
            (None, None, None) => Ok(None),
            (Some(to), Some(deadline), Some(signature)) => Ok(Some(Self {
                to: Address::from_str(to.trim()).map_err(|_| invalid("`to` is not an address"))?,
                deadline: U256::from_str(deadline.trim())
                    .map_err(|_| invalid("`deadline` is not a whole number of seconds"))?,
                signature: Bytes::from_str(signature.trim())
                    .map_err(|_| invalid("`signature` is not hex"))?,
            })),
            _ => Err(invalid(
                "claiming to another address needs `to`, `deadline` and `signature`",
            )),
        }
    }
}

impl OnChain<'_> {
    /// What the account can claim now, from the newest published root.
    pub async fn claimable(&self, account_id: &AccountId) -> Result<Claimable, ClaimError> {
        let settlement = self.settlement().map_err(ClaimError::from)?;
        let (wallet, leaf) = self.published_leaf(account_id).await?;
        let distributor =
            RewardDistributor::new(settlement.distributor, settlement.sender.chain().provider());
        let claimed = distributor
            .claimed(wallet)
            .call()
            .await
            .map_err(|e| ClaimError::from(contract(e)))?;
        let nonce = distributor
            .nonces(wallet)
            .call()
            .await
            .map_err(|e| ClaimError::from(contract(e)))?;
        let token_balance =
            RewardToken::new(settlement.token, settlement.sender.chain().provider())
                .balanceOf(wallet)
                .call()
                .await
                .map_err(|e| ClaimError::from(contract(e)))?;
        let cumulative = amount_of(&leaf)?;
        Ok(Claimable {
            wallet: wallet.to_checksum(None),
            round: leaf.round,
            cumulative_amount: cumulative.to_string(),
            claimed: claimed.to_string(),
            claimable: cumulative.saturating_sub(claimed).to_string(),
            proof: proof_of(&leaf)?.iter().map(ToString::to_string).collect(),
            chain_id: settlement.sender.chain().chain_id(),
            distributor: settlement.distributor.to_checksum(None),
            token: settlement.token.to_checksum(None),
            claim_to_nonce: nonce.to_string(),
            token_balance: token_balance.to_string(),
        })
    }

    /// Relays a claim of everything claimable to the account's wallet
    /// (`claim_to: None`) or to the address its wallet signed for.
    /// Idempotent per `key`: a retry returns the same claim.
    #[tracing::instrument(skip_all)]
    pub async fn request_claim(
        &self,
        account_id: &AccountId,
        key: &str,
        claim_to: Option<ClaimToRequest>,
    ) -> Result<ClaimView, ClaimError> {
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClaimError::InvalidRequest(
                "the idempotency key must be 1 to 128 visible ASCII characters",
            ));
        }
        let tx_key = format!("claim:{account_id}:{key}");
        if let Some(tx) = chain_txs::by_key(self.db(), &tx_key).await? {
            return self.claim_view(&tx).await;
        }
        let account_claims = format!("claim:{account_id}:");
        if chain_txs::unsent_with_key_prefix(self.db(), &account_claims)
            .await?
            .is_some()
        {
            return Err(ClaimError::InProgress);
        }
        // A claim that passes simulation and then reverts still costs the
        // platform its gas, and spends neither the nonce nor the amount:
        // without a pause, one account could repeat that without end.
        let since = crate::clock::unix_secs() - RELAY_PAUSE_AFTER_REVERT_SECS;
        if chain_txs::reverted_with_key_prefix_since(self.db(), &account_claims, since).await? {
            return Err(ClaimError::Rejected(
                "a claim relayed for you reverted on chain within the last hour; the platform \
                 relays for you again after that, or claim from your wallet"
                    .into(),
            ));
        }
        let settlement = self.settlement().map_err(ClaimError::from)?;
        let claimable = self.claimable(account_id).await?;
        if claimable.claimable == "0" {
            return Err(ClaimError::NothingToClaim);
        }
        let wallet = Address::from_str(&claimable.wallet).expect("formatted by us");
        let amount = U256::from_str(&claimable.cumulative_amount).expect("formatted by us");
        let proof: Vec<B256> = claimable
            .proof
            .iter()
            .map(|p| B256::from_str(p).expect("formatted by us"))
            .collect();
        let calldata: Bytes = match claim_to {
            None => RewardDistributor::claimCall {
                account: wallet,
                cumulativeAmount: amount,
                proof,
            }
            .abi_encode()
            .into(),
            Some(signed) => RewardDistributor::claimToCall {
                account: wallet,
                to: signed.to,
                cumulativeAmount: amount,
                proof,
                deadline: signed.deadline,
                signature: signed.signature,
            }
            .abi_encode()
            .into(),
        };
        // Refused up front with the chain's reason, rather than queued to fail.
        let gas = match settlement
            .sender
            .estimate_gas(settlement.distributor, &calldata)
            .await
        {
            Ok(gas) => gas,
            Err(ChainError::Reverted(reason)) => return Err(ClaimError::Rejected(reason)),
            Err(other) => return Err(ClaimError::Settlement(other.into())),
        };
        // A contract wallet's signature check runs on the platform's gas.
        if gas > RELAYED_CLAIM_GAS_CAP {
            return Err(ClaimError::Rejected(format!(
                "the claim needs {gas} gas; the platform pays for at most {RELAYED_CLAIM_GAS_CAP} \
                 (claim from the wallet itself instead)"
            )));
        }
        let queued = chain_txs::enqueue_unless_pending(
            self.db(),
            chain_txs::NewTx {
                id: &uuid::Uuid::new_v4().to_string(),
                idempotency_key: &tx_key,
                kind: TxKind::Claim.as_str(),
                to_address: &format!("{:#x}", settlement.distributor),
                calldata: &calldata.to_string(),
                now: crate::clock::unix_secs(),
            },
            &account_claims,
            account_id.as_str(),
        )
        .await?;
        let tx = match queued {
            chain_txs::Enqueued::Queued(tx) => tx,
            chain_txs::Enqueued::Pending(_) => return Err(ClaimError::InProgress),
        };
        tracing::info!(account = %account_id, claim = %tx.id, "claim queued");
        self.claim_view(&tx).await
    }

    /// One of the account's claims, as it stands now.
    pub async fn claim(
        &self,
        account_id: &AccountId,
        claim_id: &str,
    ) -> Result<ClaimView, ClaimError> {
        let tx = chain_txs::get(self.db(), claim_id)
            .await?
            .filter(|tx| {
                tx.idempotency_key
                    .starts_with(&format!("claim:{account_id}:"))
            })
            .ok_or(ClaimError::NoSuchClaim)?;
        self.claim_view(&tx).await
    }

    async fn published_leaf(
        &self,
        account_id: &AccountId,
    ) -> Result<(Address, LeafRecord), ClaimError> {
        let account = self
            .accounts()
            .account(account_id)
            .await
            .map_err(|_| ClaimError::NoWallet)?;
        let wallet = account
            .wallet
            .as_deref()
            .and_then(|w| Address::from_str(w).ok())
            .ok_or(ClaimError::NoWallet)?;
        // The claimable round, not merely the newest published one: a
        // version 2 root waits out its timelock before it pays.
        let settlement = self.settlement().map_err(ClaimError::from)?;
        let claimable_round = self.chain_rounds(settlement).await?.active;
        let leaf = rounds::latest_published_leaf(self.db(), &wallet_key(&wallet), claimable_round)
            .await?
            .ok_or(ClaimError::NothingToClaim)?;
        Ok((wallet, leaf))
    }

    async fn claim_view(&self, tx: &TxRecord) -> Result<ClaimView, ClaimError> {
        let call = Bytes::from_str(&tx.calldata)
            .map_err(|_| SettlementError::Corrupt(format!("calldata of {}", tx.id)))?;
        let (wallet, to, cumulative) =
            if let Ok(c) = RewardDistributor::claimCall::abi_decode(&call) {
                (c.account, c.account, c.cumulativeAmount)
            } else if let Ok(c) = RewardDistributor::claimToCall::abi_decode(&call) {
                (c.account, c.to, c.cumulativeAmount)
            } else {
                return Err(SettlementError::Corrupt(format!("{} is not a claim", tx.id)).into());
            };
        Ok(ClaimView {
            id: tx.id.clone(),
            status: ClaimStatus::parse(&tx.status)
                .ok_or_else(|| SettlementError::Corrupt(format!("status {}", tx.status)))?,
            wallet: wallet.to_checksum(None),
            to: to.to_checksum(None),
            cumulative_amount: cumulative.to_string(),
            tx_hash: tx.mined_hash.clone().or_else(|| tx.hashes().pop()),
            succeeded: tx.succeeded,
        })
    }
}

fn amount_of(leaf: &LeafRecord) -> Result<U256, ClaimError> {
    U256::from_str(&leaf.amount)
        .map_err(|_| SettlementError::Corrupt(format!("leaf amount {}", leaf.amount)).into())
}

fn proof_of(leaf: &LeafRecord) -> Result<Vec<B256>, ClaimError> {
    serde_json::from_str(&leaf.proof).map_err(|_| {
        SettlementError::Corrupt(format!("proof of {} in round {}", leaf.wallet, leaf.round)).into()
    })
}

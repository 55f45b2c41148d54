//! The `ClaimTo` permission (EIP-712) as either kind of wallet signs it: the
//! embedded key signs its digest, an extension signs the typed-data JSON.
//! Both come from one `ClaimTo`, so they cannot disagree on what is signed.

use std::str::FromStr;

use alloy_primitives::{hex, Address, U256};
use app::wallet::{SignedClaimTo, UnsignedClaimTo, WalletError};
use meritree_core::eip712::{ClaimTo, Domain};

/// How long a signed permission stays valid: long enough for a slow relay,
/// short enough that a leaked one soon expires.
const VALID_SECS: u64 = 3_600;

/// The message to sign, its domain, and the deadline it carries.
pub struct Prepared {
    pub message: ClaimTo,
    pub domain: Domain,
}

impl Prepared {
    pub fn new(claim: &UnsignedClaimTo) -> Result<Self, WalletError> {
        let address = |text: &str, what: &str| {
            Address::from_str(text.trim())
                .map_err(|_| WalletError::Wallet(format!("{what} is not an address")))
        };
        let number = |text: &str| {
            U256::from_str_radix(text, 10)
                .map_err(|_| WalletError::Wallet(format!("not a number: {text}")))
        };
        let now = (js_sys::Date::now() / 1000.0) as u64;
        Ok(Prepared {
            message: ClaimTo {
                account: address(&claim.account, "the rewards wallet")?,
                to: address(&claim.to, "the recipient")?,
                cumulative_amount: number(&claim.cumulative_amount)?,
                nonce: number(&claim.nonce)?,
                deadline: U256::from(now + VALID_SECS),
            },
            domain: Domain {
                chain_id: claim.chain_id,
                verifying_contract: address(&claim.distributor, "the distributor")?,
            },
        })
    }

    pub fn signed(&self, signature: &[u8]) -> SignedClaimTo {
        SignedClaimTo {
            deadline: self.message.deadline.to_string(),
            signature: hex::encode_prefixed(signature),
        }
    }
}

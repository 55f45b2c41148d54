//! EIP-712 typed data for the one message members sign: `ClaimTo`, which
//! lets a wallet send its rewards to another address (the distributor
//! contract's `claimTo`). Hashing here is what the contract checks; the JSON
//! form is what `eth_signTypedData_v4` shows in an extension wallet.

use alloy_primitives::{keccak256, Address, B256, U256};
use serde_json::json;

/// The distributor's EIP-712 domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub chain_id: u64,
    pub verifying_contract: Address,
}

/// The contract's `EIP712("Meritree Rewards", "1")`.
pub const DOMAIN_NAME: &str = "Meritree Rewards";
pub const DOMAIN_VERSION: &str = "1";

const DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
const CLAIM_TO_TYPE: &str =
    "ClaimTo(address account,address to,uint256 cumulativeAmount,uint256 nonce,uint256 deadline)";

impl Domain {
    pub fn separator(&self) -> B256 {
        let mut encoded = Vec::with_capacity(5 * 32);
        encoded.extend_from_slice(keccak256(DOMAIN_TYPE).as_slice());
        encoded.extend_from_slice(keccak256(DOMAIN_NAME).as_slice());
        encoded.extend_from_slice(keccak256(DOMAIN_VERSION).as_slice());
        encoded.extend_from_slice(&U256::from(self.chain_id).to_be_bytes::<32>());
        encoded.extend_from_slice(self.verifying_contract.into_word().as_slice());
        keccak256(encoded)
    }
}

/// "`account` sends its claim up to `cumulative_amount` to `to`", valid once
/// (`nonce`, the contract's per-account counter) until `deadline` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTo {
    pub account: Address,
    pub to: Address,
    pub cumulative_amount: U256,
    pub nonce: U256,
    pub deadline: U256,
}

impl ClaimTo {
    pub fn struct_hash(&self) -> B256 {
        let mut encoded = Vec::with_capacity(6 * 32);
        encoded.extend_from_slice(keccak256(CLAIM_TO_TYPE).as_slice());
        encoded.extend_from_slice(self.account.into_word().as_slice());
        encoded.extend_from_slice(self.to.into_word().as_slice());
        encoded.extend_from_slice(&self.cumulative_amount.to_be_bytes::<32>());
        encoded.extend_from_slice(&self.nonce.to_be_bytes::<32>());
        encoded.extend_from_slice(&self.deadline.to_be_bytes::<32>());
        keccak256(encoded)
    }

    /// The digest a wallet signs: `keccak256(0x1901 ‖ domain ‖ struct)`.
    pub fn signing_hash(&self, domain: &Domain) -> B256 {
        let mut encoded = Vec::with_capacity(2 + 64);
        encoded.extend_from_slice(&[0x19, 0x01]);
        encoded.extend_from_slice(domain.separator().as_slice());
        encoded.extend_from_slice(self.struct_hash().as_slice());
        keccak256(encoded)
    }

    /// The `eth_signTypedData_v4` document for this message. Numbers are
    /// decimal strings: JSON numbers lose precision past 2^53.
    pub fn typed_data_json(&self, domain: &Domain) -> String {
        json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "verifyingContract", "type": "address" },
                ],
                "ClaimTo": [
                    { "name": "account", "type": "address" },
                    { "name": "to", "type": "address" },
                    { "name": "cumulativeAmount", "type": "uint256" },
                    { "name": "nonce", "type": "uint256" },
                    { "name": "deadline", "type": "uint256" },
                ],
            },
            "primaryType": "ClaimTo",
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": domain.chain_id,
                "verifyingContract": domain.verifying_contract.to_checksum(None),
            },
            "message": {
                "account": self.account.to_checksum(None),
                "to": self.to.to_checksum(None),
                "cumulativeAmount": self.cumulative_amount.to_string(),
                "nonce": self.nonce.to_string(),
                "deadline": self.deadline.to_string(),
            },
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;
    use alloy_sol_types::{eip712_domain, sol, SolStruct};

    use super::*;
    use crate::wallet::WalletKey;

    sol! {
        struct ClaimTo {
            address account;
            address to;
            uint256 cumulativeAmount;
            uint256 nonce;
            uint256 deadline;
        }
    }

    fn sample() -> (super::ClaimTo, Domain) {
        let claim = super::ClaimTo {
            account: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            to: address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            cumulative_amount: U256::from(1_234_000_000_000_000_000_u128),
            nonce: U256::from(3),
            deadline: U256::from(1_800_000_000_u64),
        };
        let domain = Domain {
            chain_id: 31_337,
            verifying_contract: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
        };
        (claim, domain)
    }

    /// Against alloy's independent EIP-712 implementation.
    #[test]
    fn hashes_match_alloy() {
        let (claim, domain) = sample();
        let theirs = ClaimTo {
            account: claim.account,
            to: claim.to,
            cumulativeAmount: claim.cumulative_amount,
            nonce: claim.nonce,
            deadline: claim.deadline,
        };
        let their_domain = eip712_domain! {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: 31_337,
            verifying_contract: domain.verifying_contract,
        };
        assert_eq!(domain.separator(), their_domain.separator());
        assert_eq!(claim.struct_hash(), theirs.eip712_hash_struct());
        assert_eq!(
            claim.signing_hash(&domain),
            theirs.eip712_signing_hash(&their_domain)
        );
    }

    #[test]
    fn the_embedded_wallet_signs_typed_data_recoverably() {
        let (mut claim, domain) = sample();
        let key = WalletKey::from_bytes(&[7; 32]).unwrap();
        claim.account = key.address();
        let digest = claim.signing_hash(&domain);
        let signature = key.sign_hash(digest.as_slice());
        let signature = alloy_primitives::Signature::try_from(&signature[..]).unwrap();
        assert_eq!(
            signature.recover_address_from_prehash(&digest).unwrap(),
            key.address()
        );
    }

    #[test]
    fn typed_data_json_names_the_domain_and_keeps_big_numbers_exact() {
        let (claim, domain) = sample();
        let json: serde_json::Value =
            serde_json::from_str(&claim.typed_data_json(&domain)).unwrap();
        assert_eq!(json["primaryType"], "ClaimTo");
        assert_eq!(json["domain"]["chainId"], 31_337);
        assert_eq!(json["message"]["cumulativeAmount"], "1234000000000000000");
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Eip1271Wallet
/// @notice Test double for a smart-contract wallet: it accepts exactly the
/// signatures its owner key makes over the given hash. Enough to exercise the
/// ERC-1271 paths (SIWE sign-in, claimTo) without a real account-abstraction stack.
contract Eip1271Wallet is IERC1271 {
    address public immutable OWNER;

    constructor(address owner) {
        OWNER = owner;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        // tryRecover, not recover: ERC-1271 callers expect a "no" answer for a
        // malformed signature, not a revert.
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && signer == OWNER) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }
}

/// @title GasBurningWallet
/// @notice Test double for a hostile contract wallet: it accepts its owner's
/// signatures like {Eip1271Wallet}, after burning `BURN` gas in
/// `isValidSignature`. A relayer that pays for claims must refuse to carry it.
contract GasBurningWallet is IERC1271 {
    address public immutable OWNER;
    uint256 public immutable BURN;

    constructor(address owner, uint256 burn) {
        OWNER = owner;
        BURN = burn;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        uint256 stopAt = gasleft() > BURN ? gasleft() - BURN : 0;
        bytes32 churn = hash;
        while (gasleft() > stopAt) churn = keccak256(abi.encode(churn));
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && signer == OWNER && churn != 0) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }
}

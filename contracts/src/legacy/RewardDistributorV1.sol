// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title RewardDistributorV1
/// @notice Version 1, kept so that platforms already running it keep working
/// (see the README on moving to version 2, which adds the root timelock).
/// It pays out the platform's rewards against a Merkle root of cumulative
/// balances. Each round the platform publishes a root over every account's
/// total earned so far; a claim pays the difference between that total and
/// what the account has already claimed, so a member can skip any number of
/// rounds and claim once.
///
/// Leaves are OpenZeppelin StandardMerkleTree leaves for ("address","uint256"):
/// keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount)))),
/// with sorted-pair hashing. abi.encode(account, cumulativeAmount) is 64
/// bytes, like an inner node's preimage; hashing it twice keeps an inner node
/// from being passed off as a leaf.
///
/// The previous root stays valid next to the current one, so a claim built
/// against a root that is replaced while the transaction is pending still
/// succeeds. That is safe because cumulative amounts never decrease from one
/// round to the next: the older proof can only pay out less.
contract RewardDistributorV1 is AccessControl, Pausable, EIP712, Nonces {
    using SafeERC20 for IERC20;

    bytes32 public constant UPDATER_ROLE = keccak256("UPDATER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    bytes32 public constant CLAIM_TO_TYPEHASH =
        keccak256("ClaimTo(address account,address to,uint256 cumulativeAmount,uint256 nonce,uint256 deadline)");

    IERC20 public immutable TOKEN;

    bytes32 public root;
    bytes32 public previousRoot;
    uint64 public round;
    /// @notice Total paid out to each account; only ever grows.
    mapping(address account => uint256) public claimed;

    event RootUpdated(uint64 indexed round, bytes32 root, bytes32 previousRoot);
    event Claimed(address indexed account, address indexed to, uint256 amount, uint256 cumulativeAmount);

    error InvalidProof();
    error NothingToClaim();
    error RoundNotIncreasing(uint64 current, uint64 proposed);
    error SignatureExpired();
    error InvalidSignature();
    error ZeroAddress();

    constructor(IERC20 token, address admin, address updater, address pauser) EIP712("Meritree Rewards", "1") {
        if (address(token) == address(0) || admin == address(0)) revert ZeroAddress();
        TOKEN = token;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPDATER_ROLE, updater);
        _grantRole(PAUSER_ROLE, pauser);
    }

    /// @notice Publishes the root of a new round. Rounds must strictly increase
    /// so that a delayed or replayed update can never roll the root back.
    /// Allowed while paused: settlement goes on and claims resume on the latest root.
    function setRoot(bytes32 newRoot, uint64 newRound) external onlyRole(UPDATER_ROLE) {
        uint64 current = round;
        if (newRound <= current) revert RoundNotIncreasing(current, newRound);
        bytes32 replaced = root;
        previousRoot = replaced;
        root = newRoot;
        round = newRound;
        emit RootUpdated(newRound, newRoot, replaced);
    }

    /// @notice Pays `account` everything it has earned up to `cumulativeAmount`.
    /// Anyone may submit it (the platform's relayer does, so members pay no gas);
    /// the tokens always go to `account`.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        whenNotPaused
        returns (uint256 amount)
    {
        return _claim(account, account, cumulativeAmount, proof);
    }

    /// @notice Like {claim}, but pays `to`, which `account` chose by signing an
    /// EIP-712 ClaimTo. The signature is checked with ERC-1271 when `account`
    /// is a contract, so smart-contract wallets can claim to another address too.
    function claimTo(
        address account,
        address to,
        uint256 cumulativeAmount,
        bytes32[] calldata proof,
        uint256 deadline,
        bytes calldata signature
    ) external whenNotPaused returns (uint256 amount) {
        if (block.timestamp > deadline) revert SignatureExpired();
        if (to == address(0)) revert ZeroAddress();
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(CLAIM_TO_TYPEHASH, account, to, cumulativeAmount, _useNonce(account), deadline))
        );
        if (!SignatureChecker.isValidSignatureNowCalldata(account, digest, signature)) revert InvalidSignature();
        return _claim(account, to, cumulativeAmount, proof);
    }

    /// @notice The emergency brake. Kept apart from the admin so that a
    /// monitoring key can hold it without being able to do anything else.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resuming is a decision about an incident, so it needs the admin.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _claim(address account, address to, uint256 cumulativeAmount, bytes32[] calldata proof)
        private
        returns (uint256 amount)
    {
        bytes32 computed = MerkleProof.processProofCalldata(proof, _leaf(account, cumulativeAmount));
        // The previous root is read only when the current one does not match.
        if (computed != root && computed != previousRoot) revert InvalidProof();

        uint256 alreadyClaimed = claimed[account];
        // `<` as well as `==`: a proof against the previous root may carry a
        // smaller total than has already been paid from the current one.
        if (cumulativeAmount <= alreadyClaimed) revert NothingToClaim();
        unchecked {
            amount = cumulativeAmount - alreadyClaimed;
        }
        claimed[account] = cumulativeAmount;
        emit Claimed(account, to, amount, cumulativeAmount);
        TOKEN.safeTransfer(to, amount);
    }

    /// @dev keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount)))),
    /// hashed in scratch space rather than through two memory allocations.
    function _leaf(address account, uint256 cumulativeAmount) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, cumulativeAmount)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }
}

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

/// What version 2 needs of the distributor it replaces.
interface IClaimedLedger {
    function claimed(address account) external view returns (uint256);
    function paused() external view returns (bool);
}

/// @title RewardDistributor (version 2)
/// @notice Pays out the platform's rewards against a Merkle root of cumulative
/// balances. Each round the platform publishes a root over every account's
/// total earned so far; a claim pays the difference between that total and
/// what the account has already claimed, so a member can skip any number of
/// rounds and claim once.
///
/// New roots go through a timelock, as in Morpho's Universal Rewards
/// Distributor: the updater proposes a root, which becomes claimable
/// `rootTimelock` seconds later; until it is accepted the guardian (or the
/// admin) can revoke it. A compromised updater key therefore cannot pay
/// anything out before someone watching the chain can stop it. Each root
/// comes with the hash of the round's public tree export, so anyone can fetch
/// the leaves and check them against what was proposed.
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
///
/// A distributor that replaces an earlier one (`LEGACY`) counts what the
/// earlier one paid as already claimed, so members are never paid twice,
/// and pays nothing while the earlier one is not paused: were both to pay,
/// a member could collect the same balance from each.
contract RewardDistributor is AccessControl, Pausable, EIP712, Nonces {
    using SafeERC20 for IERC20;

    /// The interface version: the platform reads it to tell this contract
    /// from version 1, which has no such function.
    uint256 public constant VERSION = 2;

    bytes32 public constant UPDATER_ROLE = keccak256("UPDATER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// Longer than anyone would wait for a claim; guards against a typo
    /// that would freeze payouts for years.
    uint64 public constant MAX_ROOT_TIMELOCK = 30 days;

    bytes32 public constant CLAIM_TO_TYPEHASH =
        keccak256("ClaimTo(address account,address to,uint256 cumulativeAmount,uint256 nonce,uint256 deadline)");

    struct PendingRoot {
        bytes32 root;
        bytes32 exportHash;
        uint64 round;
        /// When it may be accepted; zero when nothing is pending.
        uint64 validAt;
    }

    IERC20 public immutable TOKEN;
    /// The distributor this one replaced, or zero.
    IClaimedLedger public immutable LEGACY;

    /// The claimable root, the one before it, and the round they belong to.
    bytes32 public root;
    bytes32 public previousRoot;
    uint64 public round;
    /// Shares `round`'s slot: a proposal reads both.
    uint64 public rootTimelock;
    /// keccak256 of the claimable round's tree export.
    bytes32 public exportHash;
    PendingRoot public pendingRoot;
    /// Proposals a guardian revoked, by {proposalId}; never made again.
    /// Keyed on the whole proposal, not the root alone, so that revoking a
    /// right root proposed with a wrong round or export hash does not bar
    /// the right proposal.
    mapping(bytes32 proposal => bool) public revokedProposals;

    mapping(address account => uint256) private _claimed;

    event RootProposed(uint64 indexed round, bytes32 root, bytes32 exportHash, uint64 validAt);
    event RootUpdated(uint64 indexed round, bytes32 root, bytes32 previousRoot);
    event RootRevoked(uint64 indexed round, bytes32 root, address by);
    event RootTimelockSet(uint64 rootTimelock);
    event Claimed(address indexed account, address indexed to, uint256 amount, uint256 cumulativeAmount);

    error InvalidProof();
    error NothingToClaim();
    error RoundNotIncreasing(uint64 current, uint64 proposed);
    error PendingRootExists(uint64 round, uint64 validAt);
    error NoPendingRoot();
    error RootTimelocked(uint64 validAt);
    error ProposalWasRevoked(bytes32 proposal);
    error LegacyNotPaused();
    error TimelockTooLong(uint64 requested, uint64 max);
    error NotGuardian();
    error SignatureExpired();
    error InvalidSignature();
    error ZeroAddress();

    constructor(
        IERC20 token,
        address admin,
        address updater,
        address pauser,
        address guardian,
        uint64 timelock,
        IClaimedLedger legacy
    ) EIP712("Meritree Rewards", "1") {
        if (address(token) == address(0) || admin == address(0)) revert ZeroAddress();
        TOKEN = token;
        LEGACY = legacy;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPDATER_ROLE, updater);
        _grantRole(PAUSER_ROLE, pauser);
        _grantRole(GUARDIAN_ROLE, guardian);
        _setRootTimelock(timelock);
    }

    /// @notice Proposes the root of a new round, claimable `rootTimelock`
    /// seconds from now (at once when the timelock is zero). Rounds must
    /// strictly increase so that a delayed or replayed proposal can never roll
    /// the root back. A pending root whose delay is over is accepted first; one
    /// still waiting blocks the proposal, so every root gets its full review.
    /// Allowed while paused: settlement goes on and claims resume on the latest root.
    function proposeRoot(bytes32 newRoot, uint64 newRound, bytes32 newExportHash) external onlyRole(UPDATER_ROLE) {
        PendingRoot memory pending = pendingRoot;
        if (pending.validAt != 0) {
            if (block.timestamp < pending.validAt) revert PendingRootExists(pending.round, pending.validAt);
            delete pendingRoot;
            _accept(pending);
        }
        uint64 current = round;
        if (newRound <= current) revert RoundNotIncreasing(current, newRound);
        bytes32 proposal = proposalId(newRoot, newRound, newExportHash);
        if (revokedProposals[proposal]) revert ProposalWasRevoked(proposal);

        uint64 validAt = uint64(block.timestamp) + rootTimelock;
        emit RootProposed(newRound, newRoot, newExportHash, validAt);
        PendingRoot memory proposed = PendingRoot(newRoot, newExportHash, newRound, validAt);
        if (rootTimelock == 0) _accept(proposed);
        else pendingRoot = proposed;
    }

    /// @notice Makes the pending root claimable once its delay is over.
    /// Anyone may call it: the delay, not the caller, is the safeguard.
    function acceptRoot() external {
        PendingRoot memory pending = pendingRoot;
        if (pending.validAt == 0) revert NoPendingRoot();
        if (block.timestamp < pending.validAt) revert RootTimelocked(pending.validAt);
        delete pendingRoot;
        _accept(pending);
    }

    /// @notice Throws the pending root away, for good: the same proposal can
    /// never be made again. For the guardian (or the admin) when a proposed
    /// root does not match what the platform's public export says.
    function revokePendingRoot() external {
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) revert NotGuardian();
        PendingRoot memory pending = pendingRoot;
        if (pending.validAt == 0) revert NoPendingRoot();
        revokedProposals[proposalId(pending.root, pending.round, pending.exportHash)] = true;
        delete pendingRoot;
        emit RootRevoked(pending.round, pending.root, msg.sender);
    }

    /// @notice Identifies a proposal for {revokedProposals}.
    function proposalId(bytes32 proposedRoot, uint64 proposedRound, bytes32 proposedExportHash)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(proposedRoot, proposedRound, proposedExportHash));
    }

    /// @notice Sets the delay for roots proposed from now on.
    function setRootTimelock(uint64 timelock) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRootTimelock(timelock);
    }

    /// @notice Everything paid to `account` so far, here or by the distributor
    /// this one replaced; only ever grows.
    function claimed(address account) public view returns (uint256) {
        uint256 own = _claimed[account];
        if (address(LEGACY) == address(0)) return own;
        uint256 before = LEGACY.claimed(account);
        return own > before ? own : before;
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

    function _accept(PendingRoot memory accepted) private {
        bytes32 replaced = root;
        previousRoot = replaced;
        root = accepted.root;
        round = accepted.round;
        exportHash = accepted.exportHash;
        emit RootUpdated(accepted.round, accepted.root, replaced);
    }

    function _setRootTimelock(uint64 timelock) private {
        if (timelock > MAX_ROOT_TIMELOCK) revert TimelockTooLong(timelock, MAX_ROOT_TIMELOCK);
        rootTimelock = timelock;
        emit RootTimelockSet(timelock);
    }

    function _claim(address account, address to, uint256 cumulativeAmount, bytes32[] calldata proof)
        private
        returns (uint256 amount)
    {
        bytes32 computed = MerkleProof.processProofCalldata(proof, _leaf(account, cumulativeAmount));
        // The previous root is read only when the current one does not match.
        if (computed != root && computed != previousRoot) revert InvalidProof();
        if (address(LEGACY) != address(0) && !LEGACY.paused()) revert LegacyNotPaused();

        uint256 alreadyClaimed = claimed(account);
        // `<` as well as `==`: a proof against the previous root may carry a
        // smaller total than has already been paid from the current one.
        if (cumulativeAmount <= alreadyClaimed) revert NothingToClaim();
        unchecked {
            amount = cumulativeAmount - alreadyClaimed;
        }
        _claimed[account] = cumulativeAmount;
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

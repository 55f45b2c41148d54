// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title NodeStaking
/// @notice Node operators lock tokens here as a bond for running a node.
/// Only the active stake counts towards node registration. Leaving takes two
/// steps: `requestUnstake` takes the amount out of the active stake at once
/// and parks it for the cooldown, then `withdraw` pays it out. The cooldown
/// exists so that misbehaviour found shortly after the fact can still be
/// punished: `slash` reaches the parked tokens too, so an operator who sees a
/// slash coming cannot dodge it by requesting an unstake.
///
/// Assumes a plain ERC-20 (such as RewardToken): a token that takes a fee on
/// transfer would leave the contract holding less than it has credited.
contract NodeStaking is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");

    /// @dev One slot per operator: a token's supply would have to exceed
    /// 2^192 base units for the amount not to fit, and SafeCast reverts if it did.
    struct Unstake {
        uint192 amount;
        uint64 availableAt;
    }

    IERC20 public immutable token;

    /// @notice Seconds between an unstake request and the earliest withdrawal.
    uint64 public cooldown;
    /// @notice Receives slashed tokens.
    address public treasury;

    mapping(address operator => uint256) private _active;
    mapping(address operator => Unstake) private _pending;

    event Staked(address indexed operator, uint256 amount, uint256 total);
    event UnstakeRequested(address indexed operator, uint256 amount, uint64 availableAt);
    event Withdrawn(address indexed operator, uint256 amount);
    event Slashed(address indexed operator, uint256 amount, string reason);
    event CooldownUpdated(uint64 previous, uint64 cooldown);
    event TreasuryUpdated(address indexed previous, address indexed treasury);

    error ZeroAmount();
    error ZeroAddress();
    error InsufficientStake(uint256 available, uint256 requested);
    error NothingPending();
    error CooldownNotOver(uint64 availableAt);

    /// @param admin receives DEFAULT_ADMIN_ROLE and SLASHER_ROLE, and is the
    /// treasury until {setTreasury} names another, so slashed tokens always
    /// have somewhere to go.
    constructor(IERC20 token_, uint64 unstakeCooldown, address admin) {
        if (address(token_) == address(0) || admin == address(0)) revert ZeroAddress();
        token = token_;
        cooldown = unstakeCooldown;
        treasury = admin;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SLASHER_ROLE, admin);
        emit CooldownUpdated(0, unstakeCooldown);
        emit TreasuryUpdated(address(0), admin);
    }

    /// @notice Pulls `amount` from the caller (who must have approved it) into
    /// the caller's active stake.
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 total = _active[msg.sender] + amount;
        _active[msg.sender] = total;
        emit Staked(msg.sender, amount, total);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Moves `amount` of the caller's active stake into the pending
    /// bucket. The whole bucket, earlier requests included, becomes
    /// withdrawable one cooldown from now: otherwise a stream of small
    /// requests could keep most of the stake a moment away from withdrawal.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 active = _active[msg.sender];
        if (amount > active) revert InsufficientStake(active, amount);
        unchecked {
            _active[msg.sender] = active - amount;
        }
        Unstake storage pending = _pending[msg.sender];
        uint64 availableAt = uint64(block.timestamp) + cooldown;
        pending.amount = SafeCast.toUint192(pending.amount + amount);
        pending.availableAt = availableAt;
        emit UnstakeRequested(msg.sender, amount, availableAt);
    }

    /// @notice Pays the caller everything pending once the cooldown is over.
    function withdraw() external nonReentrant {
        Unstake memory pending = _pending[msg.sender];
        if (pending.amount == 0) revert NothingPending();
        if (block.timestamp < pending.availableAt) revert CooldownNotOver(pending.availableAt);
        delete _pending[msg.sender];
        emit Withdrawn(msg.sender, pending.amount);
        token.safeTransfer(msg.sender, pending.amount);
    }

    /// @notice Takes `amount` from `operator` and sends it to the treasury:
    /// from the active stake first, then from what is pending. A partly
    /// slashed pending amount keeps its withdrawal time.
    function slash(address operator, uint256 amount, string calldata reason)
        external
        onlyRole(SLASHER_ROLE)
        nonReentrant
    {
        if (amount == 0) revert ZeroAmount();
        uint256 active = _active[operator];
        Unstake storage pending = _pending[operator];
        uint256 parked = pending.amount;
        if (amount > active + parked) revert InsufficientStake(active + parked, amount);
        unchecked {
            if (amount <= active) {
                _active[operator] = active - amount;
            } else {
                _active[operator] = 0;
                uint256 rest = parked - (amount - active);
                if (rest == 0) delete _pending[operator];
                else pending.amount = uint192(rest); // below `parked`, which fits
            }
        }
        emit Slashed(operator, amount, reason);
        token.safeTransfer(treasury, amount);
    }

    /// @notice Applies to requests made from now on; pending ones keep the
    /// withdrawal time they were given.
    function setCooldown(uint64 newCooldown) external onlyRole(DEFAULT_ADMIN_ROLE) {
        emit CooldownUpdated(cooldown, newCooldown);
        cooldown = newCooldown;
    }

    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice The stake that counts for node registration; excludes what is pending.
    function stakeOf(address operator) external view returns (uint256) {
        return _active[operator];
    }

    /// @notice The amount waiting to be withdrawn and when it can be.
    function pendingOf(address operator) external view returns (uint256 amount, uint64 availableAt) {
        Unstake memory pending = _pending[operator];
        return (pending.amount, pending.availableAt);
    }
}

//! The settlement loop: closes due rounds, publishes their roots, and moves
//! the platform's transactions along, on one instance at a time (the
//! settlement lease). Every step is idempotent, so a pass that fails
//! half-way is simply repeated by the next.

use std::time::Duration;

use meritree_platform::chain::SettlementError;
use meritree_platform::Platform;

/// Passes every `every`, on whichever instance holds the settlement lease
/// (`holder` names this one). A dead holder's lease runs out after three
/// ticks (at least 10 s) and another instance takes over; instances' clocks
/// must agree to well within that (NTP).
pub async fn run(platform: Platform, every: Duration, holder: String) {
    let lease = Lease {
        holder,
        ttl: (every * 3).max(Duration::from_secs(10)),
    };
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        pass(&platform, &lease).await;
    }
}

/// This instance's claim on the settlement lease.
struct Lease {
    holder: String,
    ttl: Duration,
}

impl Lease {
    /// Takes or renews the lease; false (and nothing more is done this
    /// pass) while another instance holds it. Renewed before every step, so
    /// a long pass does not outlive it.
    async fn held(&self, platform: &Platform) -> bool {
        match platform.chain().hold_lease(&self.holder, self.ttl).await {
            Ok(held) => held,
            Err(err) => {
                tracing::warn!(error = %err, "settlement lease not taken; retrying next tick");
                false
            }
        }
    }
}

/// Lets another instance take over at once (a clean shutdown).
pub async fn release(platform: &Platform, holder: &str) {
    if let Err(err) = platform.chain().release_lease(holder).await {
        tracing::warn!(error = %err, "settlement lease not released; it expires on its own");
    }
}

/// One pass, on the lease's holder only; errors are logged and the next
/// pass tries again.
async fn pass(platform: &Platform, lease: &Lease) {
    if !lease.held(platform).await {
        return;
    }
    if let Err(err) = platform
        .rounds()
        .tick(meritree_platform::clock::unix_secs())
        .await
    {
        tracing::warn!(error = %err, "closing rounds failed; retrying next tick");
    }
    match platform
        .competitions()
        .pay_due(meritree_platform::clock::unix_secs())
        .await
    {
        Ok(paid) if !paid.is_empty() => tracing::info!(?paid, "round pools paid"),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "paying round pools failed; retrying next tick"),
    }
    if !lease.held(platform).await {
        return;
    }
    // Before publication: a round whose root the chain lost is taken up again.
    match platform.chain().reconcile().await {
        Ok(found) if found != Default::default() => tracing::warn!(?found, "chain reconciled"),
        Ok(_) | Err(SettlementError::NoChain) => {}
        Err(err) => {
            tracing::warn!(error = %err, "reconciling with the chain failed; retrying next tick")
        }
    }
    if !lease.held(platform).await {
        return;
    }
    match platform.chain().publish_rounds().await {
        Ok(done) if done != Default::default() => tracing::info!(?done, "root publication"),
        Ok(_) | Err(SettlementError::NoChain) => {}
        Err(err) => tracing::warn!(error = %err, "publishing roots failed; retrying next tick"),
    }
    if !lease.held(platform).await {
        return;
    }
    match platform.chain().pump_outbox().await {
        Ok(done) if done != Default::default() => tracing::debug!(?done, "outbox pass"),
        Ok(_) | Err(SettlementError::NoChain) => {}
        Err(err) => tracing::warn!(error = %err, "outbox pass failed; retrying next tick"),
    }
    match platform
        .notifications()
        .forget_old(meritree_platform::clock::unix_secs())
        .await
    {
        Ok(0) => {}
        Ok(forgotten) => tracing::info!(forgotten, "old notifications forgotten"),
        Err(err) => {
            tracing::warn!(error = %err, "forgetting old notifications failed; retrying next tick")
        }
    }
}

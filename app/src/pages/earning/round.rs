use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;
use meritree_core::live::LiveEvent;
use meritree_core::submissions::leaderboard;

use super::entries::EntryTable;
use crate::components::time::utc_minutes;
use crate::live::Live;
use crate::server_fns::work::{round_standing, RoundBoard};

/// `/rounds/{n}`: a round's theme, pool and rule, time left (ticking),
/// leaderboard and entries, updated live.
#[component]
pub fn RoundPage() -> impl IntoView {
    let params = use_params_map();
    let number = move || params.with(|p| p.get("n").and_then(|n| n.parse::<i64>().ok()));
    let live = Live::get();
    // Leaderboard changes are applied in place (see `Standing`); the rest
    // of the standing is read again when the round's facts change.
    let changes = live.changes(move |event| match event {
        LiveEvent::Round { round, .. } => Some(*round) == number(),
        _ => false,
    });
    let stale = RwSignal::new(0_u64);
    let standing = Resource::new(
        move || (number(), changes.get(), stale.get()),
        |(n, _, _)| async move {
            match n {
                Some(n) => round_standing(Some(n)).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <section class="round">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match standing.await {
                        Ok(Some(standing)) => view! { <Standing standing stale /> }.into_any(),
                        Ok(None) => view! { <Title text="No such round" /><p class="error" role="alert">"No such round."</p> }.into_any(),
                        Err(err) => view! { <Title text="No such round" /><p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A round's standing. Its leaderboard follows the live changes; when a
/// change does not lead to the announced board (this page loaded between
/// two announcements, or missed one), `stale` moves so that the page reads
/// the standing again.
#[component]
pub fn Standing(standing: RoundBoard, stale: RwSignal<u64>) -> impl IntoView {
    let RoundBoard {
        competition: c,
        leaderboard,
        now,
    } = standing;
    let board = RwSignal::new(leaderboard);
    let live = Live::get();
    let round = c.round;
    Effect::new(move |seen: Option<()>| {
        let event = live.event();
        // The frame present when this board was read is already in it.
        if seen.is_none() {
            return;
        }
        if let Some(LiveEvent::Leaderboard {
            round: r,
            change,
            digest,
        }) = event
        {
            if r != round {
                return;
            }
            let right = board
                .try_update(|b| {
                    leaderboard::apply(b, &change);
                    leaderboard::digest(b) == digest
                })
                .unwrap_or(false);
            if !right {
                stale.update(|n| *n += 1);
            }
        }
    });
    let title = format!("Round {}: {}", c.round, c.theme);
    let description = format!(
        "{} points shared among the best work. {}",
        c.pool,
        c.rule.describe()
    );
    view! {
        <Title text=title.clone() />
        <Meta name="description" content=description.clone() />
        <Meta property="og:title" content=title.clone() />
        <Meta property="og:description" content=description />
        <h1 data-testid="round-title">{title}</h1>
        <p>
            <strong data-testid="round-pool">{c.pool}</strong> " points in the pool. " {c.rule.describe()} "."
        </p>
        <p class="muted">{utc_minutes(c.starts_at)} " – " {utc_minutes(c.ends_at)} " · "
            <span data-testid="time-left"><TimeLeft ends_at=c.ends_at now paid=c.paid_at.is_some() /></span>
        </p>
        <p class="muted">"Payouts are posted after the round closes and become claimable with the next round's root."</p>
        <h2>"Leaderboard"</h2>
        <div data-testid="leaderboard">{move || view! { <EntryTable entries=board.get() ranked=true /> }}</div>
        <h2>"All entries"</h2>
        <div data-testid="entries"><EntryTable entries=c.entries /></div>
    }
}

/// Seconds left, counted down in the browser from the server's clock.
#[component]
fn TimeLeft(ends_at: i64, now: i64, paid: bool) -> impl IntoView {
    let (left, set_left) = signal((ends_at - now).max(0));
    Effect::new(move |_| {
        set_interval(
            move || set_left.update(|l| *l = (*l - 1).max(0)),
            std::time::Duration::from_secs(1),
        );
    });
    move || {
        let l = left.get();
        if paid {
            "closed · pool paid".to_owned()
        } else if l == 0 {
            "closed · waiting for its last evaluations".to_owned()
        } else {
            format!("{}:{:02} left", l / 60, l % 60)
        }
    }
}

use std::collections::BTreeMap;

use leptos::prelude::*;
use meritree_core::ai::{format_nanodollars, DailyModelSpend};
use meritree_core::status::AiProviderReport;

use crate::components::health_badge::HealthBadge;
use crate::components::scroll_region::ScrollRegion;
use crate::components::time::utc_minutes;
use crate::server_fns::admin::{ai_providers, ai_spending};

/// Days the spending chart covers.
const DAYS: u32 = 14;

/// The AI gateway's upstreams (health, breaker) and what every account
/// spent per day and model.
#[component]
pub fn AiProviders() -> impl IntoView {
    let providers = Resource::new(|| (), |_| ai_providers());
    let spending = Resource::new(|| (), |_| ai_spending(DAYS));
    view! {
        <section class="wallet-box" data-testid="ai-providers">
            <h2>"AI providers"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"The AI gateway is off."</p> }.into_any(),
                        Ok(list) => view! { <ProviderTable list /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h3>"Spending, the last " {DAYS} " days"</h3>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match spending.await {
                        Ok(days) if days.is_empty() => view! { <p class="muted">"No AI requests in this time."</p> }.into_any(),
                        Ok(days) => view! { <SpendingChart days=days.clone() /> <SpendingTable days /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ProviderTable(list: Vec<AiProviderReport>) -> impl IntoView {
    view! {
        <ScrollRegion label="Providers">
            <table class="components">
                <thead><tr><th>"Provider"</th><th>"Health"</th><th>"Breaker"</th><th>"Failures in a row"</th><th>"Recent calls (failed)"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|p| view! {
                        <tr data-testid="ai-provider">
                            <td>{p.name}</td>
                            <td><HealthBadge health=p.health /></td>
                            <td>
                                {p.breaker}
                                {p.reopens_in_ms.map(|ms| format!(" (probe in {} s)", ms.div_ceil(1000))).unwrap_or_default()}
                                {(!p.detail.is_empty()).then(|| format!(": {}", p.detail))}
                            </td>
                            <td>{p.consecutive_failures}</td>
                            <td>{format!("{} ({})", p.window_requests, p.window_failures)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

/// One bar per day: what every model cost that day (request counts when
/// nothing cost money, as with free local models).
#[component]
fn SpendingChart(days: Vec<DailyModelSpend>) -> impl IntoView {
    const WIDTH: u64 = 560;
    const HEIGHT: u64 = 120;
    let mut per_day: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for row in &days {
        let day = per_day.entry(row.day).or_default();
        day.0 = day.0.saturating_add(row.cost_nanos);
        day.1 = day.1.saturating_add(row.requests);
    }
    let by_cost = per_day.values().any(|(cost, _)| *cost > 0);
    let value = move |(cost, requests): (u64, u64)| if by_cost { cost } else { requests };
    let top = per_day
        .values()
        .map(|d| value(*d))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / u64::from(DAYS);
    let bars = per_day
        .into_iter()
        .enumerate()
        .map(|(i, (day, totals))| {
            let height = (value(totals) * HEIGHT).div_ceil(top);
            let label = format!(
                "{}: {} in {} requests",
                &utc_minutes(day)[..10],
                format_nanodollars(totals.0),
                totals.1
            );
            view! {
                <rect
                    x=(i as u64 * slot).to_string()
                    y=(HEIGHT - height).to_string()
                    width=slot.saturating_sub(2).max(1).to_string()
                    height=height.to_string()
                >
                    <title>{label}</title>
                </rect>
            }
        })
        .collect_view();
    let caption = if by_cost {
        "Cost per day"
    } else {
        "Requests per day (nothing cost money)"
    };
    view! {
        <figure class="throughput">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=caption data-testid="spending-chart">
                {bars}
            </svg>
            <figcaption>{caption} ", oldest day on the left"</figcaption>
        </figure>
    }
}

#[component]
fn SpendingTable(days: Vec<DailyModelSpend>) -> impl IntoView {
    view! {
        <ScrollRegion label="Spending per day">
            <table class="components" data-testid="spending">
                <thead><tr><th>"Day"</th><th>"Provider"</th><th>"Model"</th><th>"Requests (failed)"</th><th>"Tokens in / out"</th><th>"Cost"</th></tr></thead>
                <tbody>
                    {days.into_iter().rev().map(|row| view! {
                        <tr data-testid="spending-row">
                            <td>{utc_minutes(row.day)[..10].to_owned()}</td>
                            <td>{row.provider}</td>
                            <td>{row.model}</td>
                            <td>{format!("{} ({})", row.requests, row.failed_requests)}</td>
                            <td>{format!("{} / {}", row.input_tokens, row.output_tokens)}</td>
                            <td>{format_nanodollars(row.cost_nanos)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

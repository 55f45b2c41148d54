use leptos::prelude::*;
use meritree_core::ai::{format_nanodollars, AiSpending, BudgetStatus};

use crate::components::scroll_region::ScrollRegion;
use crate::components::time::utc_minutes;
use crate::server_fns::ai::ai_spending;

/// This month's AI usage per model, and the budgets on the account and its
/// keys with what each has left.
#[component]
pub fn AiSpendingBox() -> impl IntoView {
    let spending = Resource::new(|| (), |_| ai_spending());
    view! {
        <section class="wallet-box" data-testid="ai-spending">
            <h2>"AI usage this month"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match spending.await {
                        Ok(spending) => view! { <Spending spending /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Spending(spending: AiSpending) -> impl IntoView {
    let AiSpending { usage, budgets } = spending;
    let total = usage.total;
    let summary = format!(
        "{} {}, {} tokens in, {} out: {}",
        total.requests,
        if total.requests == 1 {
            "request"
        } else {
            "requests"
        },
        total.input_tokens,
        total.output_tokens,
        format_nanodollars(total.cost_nanos),
    );
    view! {
        <p data-testid="ai-usage-total">{summary}</p>
        {(!usage.models.is_empty()).then(|| view! {
            <ScrollRegion label="Usage per model">
                <table class="components">
                    <thead><tr><th>"Model"</th><th>"Requests"</th><th>"Tokens in / out"</th><th>"Cost"</th></tr></thead>
                    <tbody>
                        {usage.models.into_iter().map(|m| view! {
                            <tr data-testid="ai-usage-row">
                                <td>
                                    <code>{m.provider} "/" {m.model}</code>
                                    {m.served_by.map(|node| {
                                        let short: String = node.chars().take(8).collect();
                                        view! {
                                            " " <span class="muted">"served by node "</span>
                                            <code title=node>{short}</code>
                                        }
                                    })}
                                </td>
                                <td>{m.totals.requests}</td>
                                <td>{m.totals.input_tokens} " / " {m.totals.output_tokens}</td>
                                <td>{format_nanodollars(m.totals.cost_nanos)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </ScrollRegion>
        })}
        {if budgets.is_empty() {
            view! { <p class="muted">"No spending limits are set."</p> }.into_any()
        } else {
            view! { <BudgetTable budgets /> }.into_any()
        }}
    }
}

#[component]
fn BudgetTable(budgets: Vec<BudgetStatus>) -> impl IntoView {
    view! {
        <ScrollRegion label="Budgets">
            <table class="components">
                <thead><tr><th>"Limit on"</th><th>"Per"</th><th>"Spent"</th><th>"Limit"</th><th>"Resets"</th></tr></thead>
                <tbody>
                    {budgets.into_iter().map(|b| view! {
                        <tr data-testid="ai-budget-row">
                            <td>{match b.api_key_id {
                                Some(id) => format!("API key {id}"),
                                None => "this account".to_owned(),
                            }}</td>
                            <td>{b.period}</td>
                            <td>{format_nanodollars(b.spent_nanos)}</td>
                            <td>{format_nanodollars(b.limit_nanos)}</td>
                            <td>{utc_minutes(b.resets_at)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

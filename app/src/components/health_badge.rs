use leptos::prelude::*;
use meritree_core::status::Health;

/// A coloured label for a health state; the class drives the colour.
#[component]
pub fn HealthBadge(health: Health) -> impl IntoView {
    view! { <span class=format!("health health-{}", health.label())>{health.label()}</span> }
}

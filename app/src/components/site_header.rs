use leptos::prelude::*;
use leptos_router::components::A;

/// The bar at the top of every page.
#[component]
pub fn SiteHeader() -> impl IntoView {
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">
                "Meritree"
            </A>
            <nav>
                <A href="/status">"Status"</A>
            </nav>
        </header>
    }
}

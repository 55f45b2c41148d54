use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// `/`: what Meritree is, and where to look next.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="AI work that pays" />
        <section class="hero">
            <h1>"AI work that pays"</h1>
            <p>
                "Use AI routed across providers and community compute nodes, submit work, "
                "earn points when it is scored good and original, and claim them as tokens "
                "without paying gas."
            </p>
            <p>
                <A href="/status">"Platform status"</A>
            </p>
        </section>
    }
}

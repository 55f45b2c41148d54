use leptos::prelude::*;
use leptos_meta::Title;

/// Any path without a page; answered with HTTP 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section>
            <h1>"Not found"</h1>
            <p>"There is no page at this address."</p>
            <a href="/">"Back to the start"</a>
        </section>
    }
}

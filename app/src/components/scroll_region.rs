use leptos::prelude::*;

/// A table wider than a phone's screen scrolls inside this region rather
/// than the page; the region is named and focusable, so keyboard users can
/// scroll it too.
#[component]
pub fn ScrollRegion(label: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="scroll-region" role="region" aria-label=label tabindex="0">
            {children()}
        </div>
    }
}

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use super::entries::EntryTable;
use crate::server_fns::work::member;

/// `/u/{handle}`: a member's published work and what it earned.
#[component]
pub fn MemberPage() -> impl IntoView {
    let params = use_params_map();
    let handle = move || params.with(|p| p.get("handle").unwrap_or_default());
    let profile = Resource::new(handle, member);
    view! {
        <section class="member">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match profile.await {
                        Ok(profile) => {
                            let title = format!("@{}", profile.handle);
                            let description = format!("{} works, {} points earned on Meritree", profile.submissions.len(), profile.earned);
                            view! {
                                <Title text=title.clone() />
                                <Meta name="description" content=description.clone() />
                                <Meta property="og:title" content=title.clone() />
                                <Meta property="og:description" content=description />
                                <h1>{title}</h1>
                                <p><strong data-testid="member-earned">{profile.earned}</strong> " points earned from round pools."</p>
                                <EntryTable entries=profile.submissions />
                            }.into_any()
                        }
                        Err(err) => view! { <Title text="No such member" /><p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

use leptos::prelude::*;
use leptos_meta::Title as PageTitle;
use leptos_router::hooks::use_navigate;
use meritree_core::submissions::{text, Body, Title};

use crate::components::server_error::ServerError;
use crate::server_fns::work::SubmitWork;
use crate::session::Session;

/// `/submit`: a title and a Markdown body into the open round, checked as
/// they are typed with the rules the server applies. The idempotency key
/// is the text's fingerprint, so a double click or a retry after a lost
/// answer never makes two submissions.
#[component]
pub fn SubmitPage() -> impl IntoView {
    let session = Session::get();
    let submit = ServerAction::<SubmitWork>::new();
    let (title, set_title) = signal(String::new());
    let (body, set_body) = signal(String::new());
    let title_problem = move || {
        let t = title.get();
        (!t.is_empty())
            .then(|| Title::parse(&t).err().map(|e| e.to_string()))
            .flatten()
    };
    let body_problem = move || {
        let b = body.get();
        (!b.is_empty())
            .then(|| Body::parse(&b).err().map(|e| e.to_string()))
            .flatten()
    };
    let key = move || text::fingerprint(&title.get(), &body.get())[..32].to_owned();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(work)) = submit.value().get() {
            navigate(&format!("/s/{}", work.id), Default::default());
        }
    });
    view! {
        <PageTitle text="Submit work" />
        <section class="submit">
            <h1>"Submit work"</h1>
            <p class="muted">"Your work enters the open round. An AI judge scores it against the round's rubric; original, good work shares the round's points pool when the round closes."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match session.account.await {
                        Ok(Some(account)) if account.handle.is_none() => view! {
                            <p class="error" role="alert">"Choose a public handle on your "<a href="/account">"account page"</a>" first: entries are shown under it."</p>
                        }.into_any(),
                        Ok(Some(_)) => view! {
                            <ActionForm action=submit attr:class="form">
                                <label>"Title"
                                    <input type="text" name="title" required data-testid="work-title"
                                        minlength=Title::MIN_CHARS.to_string() maxlength=Title::MAX_CHARS.to_string()
                                        on:input=move |ev| set_title.set(event_target_value(&ev)) />
                                </label>
                                <p class="field-error" data-testid="title-error">{title_problem}</p>
                                <label>"Body (Markdown)"
                                    <textarea name="body" rows="12" required data-testid="work-body"
                                        on:input=move |ev| set_body.set(event_target_value(&ev))></textarea>
                                </label>
                                <p class="field-error" data-testid="body-error">{body_problem}</p>
                                <input type="hidden" name="idempotency_key" prop:value=key />
                                <ServerError result=submit.value() />
                                <button type="submit" data-testid="submit-work"
                                    disabled=move || title_problem().is_some() || body_problem().is_some()
                                        || title.get().is_empty() || body.get().is_empty() || submit.pending().get()>
                                    "Submit"
                                </button>
                            </ActionForm>
                        }.into_any(),
                        _ => view! { <p>"Please "<a href="/sign-in">"sign in"</a>" to submit work."</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

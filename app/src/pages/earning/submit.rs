use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos_meta::Title as PageTitle;
use leptos_router::hooks::use_navigate;
use meritree_core::submissions::image::{self, ImageFormat};
use meritree_core::submissions::{text, Body, Title};

use crate::components::server_error::ServerError;
use crate::server_fns::work::{upload_image, SubmitWork};
use crate::session::Session;

/// `/submit`: a title and a Markdown body into the open round, checked as
/// they are typed with the rules the server applies. The idempotency key
/// is the text's fingerprint, so a double click or a retry after a lost
/// answer never makes two submissions. An image, if chosen, is uploaded as
/// soon as it is picked (checked first by type and size with the server's
/// rule) and the form names it by id.
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
    let upload = Action::new_local(|form: &web_sys::FormData| upload_image(form.clone().into()));
    let (image_problem, set_image_problem) = signal(None::<String>);
    let uploaded = move || upload.value().get().and_then(Result::ok);
    let image_id = move || uploaded().map(|i| i.id.to_string()).unwrap_or_default();
    let pick_image = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = ev.target().expect("an input").unchecked_into();
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        match image::check_file(&file.type_(), file.size() as usize) {
            Err(problem) => set_image_problem.set(Some(problem.to_string())),
            Ok(_) => {
                set_image_problem.set(None);
                let form = web_sys::FormData::new().expect("form data");
                form.append_with_blob("image", &file)
                    .expect("a file appends");
                upload.dispatch_local(form);
            }
        }
    };
    let key = move || {
        let mut key = text::fingerprint(&title.get(), &body.get())[..32].to_owned();
        // Another picture with the same words is another submission.
        key.push_str(image_id().get(..8).unwrap_or_default());
        key
    };
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
                                <label>"Image (optional: PNG, JPEG or WebP, at most 5 MB)"
                                    <input type="file" accept=ImageFormat::ALL.map(ImageFormat::content_type).join(",") data-testid="image-file"
                                        on:change=pick_image />
                                </label>
                                <p class="field-error" data-testid="image-error">
                                    {move || image_problem.get().or_else(|| {
                                        upload.value().get().and_then(Result::err).map(|e| e.message)
                                    })}
                                </p>
                                {move || uploaded().map(|i| view! {
                                    <img class="work-image" src=i.url alt="The image to submit"
                                        width=i.width.to_string() height=i.height.to_string()
                                        data-testid="image-preview" />
                                })}
                                <input type="hidden" name="image" prop:value=image_id />
                                <input type="hidden" name="idempotency_key" prop:value=key />
                                <ServerError result=submit.value() />
                                <button type="submit" data-testid="submit-work"
                                    disabled=move || title_problem().is_some() || body_problem().is_some()
                                        || title.get().is_empty() || body.get().is_empty() || submit.pending().get()
                                        || upload.pending().get()>
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

use leptos::prelude::*;

use crate::components::scroll_region::ScrollRegion;
use leptos_meta::Title;
use meritree_core::api_reference::{ApiOperation, ApiReference};

use crate::server_fns::api_reference::load_api_reference;

/// `/docs/api`: the JSON API and the AI gateway, operation by operation,
/// rendered from the OpenAPI document at `/api/v1/openapi.json` (nothing
/// loaded from elsewhere).
#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference = Resource::new(|| (), |_| load_api_reference());
    view! {
        <Title text="API reference" />
        <section class="api-reference">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match reference.await {
                        Ok(reference) => view! { <Reference reference /> }.into_any(),
                        Err(err) => view! {
                            <p class="error" role="alert">{err.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Reference(reference: ApiReference) -> impl IntoView {
    let ApiReference {
        title,
        version,
        description,
        groups,
        schemas,
    } = reference;
    let contents = groups
        .iter()
        .map(|g| view! { <li><a href=format!("#{}", g.tag)>{g.tag.clone()}</a></li> })
        .collect_view();
    view! {
        <h1>{title} " " <small>{version}</small></h1>
        <p>{description}</p>
        <p>
            "The machine-readable document: "
            <a href="/api/v1/openapi.json" data-testid="openapi-link">"/api/v1/openapi.json"</a>
            " (OpenAPI 3.1)."
        </p>
        <nav aria-label="API sections"><ul class="api-contents">{contents}</ul></nav>
        {groups.into_iter().map(|group| view! {
            <h2 id=group.tag.clone()>{group.tag.clone()}</h2>
            {group.operations.into_iter().map(|op| view! { <Operation op /> }).collect_view()}
        }).collect_view()}
        <h2 id="schemas">"Schemas"</h2>
        {schemas.into_iter().map(|(name, schema)| { let anchor = format!("schema-{name}"); view! {
            <details class="api-schema" id=anchor>
                <summary><code>{name}</code></summary>
                <pre>{schema}</pre>
            </details>
        }}).collect_view()}
    }
}

#[component]
fn Operation(op: ApiOperation) -> impl IntoView {
    let ApiOperation {
        method,
        path,
        id,
        summary,
        description,
        parameters,
        request,
        responses,
    } = op;
    let method_class = format!("api-method {}", method.to_lowercase());
    view! {
        <article class="api-operation" id=id data-testid="api-operation">
            <h3><span class=method_class>{method}</span> " " <code>{path}</code></h3>
            <p>{summary}</p>
            {(!description.is_empty()).then(|| view! { <p>{description}</p> })}
            {(!parameters.is_empty()).then(|| view! {
                <p>"Parameters:"</p>
                <ul>{parameters.into_iter().map(|p| view! { <li><code>{p}</code></li> }).collect_view()}</ul>
            })}
            {request.map(|body| view! { <p>"Body: " <code>{body}</code></p> })}
            <ScrollRegion label="Responses">
                <table class="api-responses">
                    <thead><tr><th scope="col">"Status"</th><th scope="col">"Meaning"</th><th scope="col">"Body"</th></tr></thead>
                    <tbody>
                        {responses.into_iter().map(|(status, meaning, body)| view! {
                            <tr><td>{status}</td><td>{meaning}</td><td><code>{body}</code></td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </ScrollRegion>
        </article>
    }
}

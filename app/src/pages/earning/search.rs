use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use super::entries::author_link;
use crate::server_fns::work::search;

/// `/search?q=&offset=`: full-text search over scored work, with the
/// matched words marked and pages of 20.
#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|p| p.get("q").unwrap_or_default());
    let offset = move || {
        query.with(|p| {
            p.get("offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0_u32)
        })
    };
    let results = Resource::new(
        move || (q(), offset()),
        |(q, offset)| async move {
            if q.trim().is_empty() {
                Ok(None)
            } else {
                search(q, offset).await.map(Some)
            }
        },
    );
    view! {
        <Title text="Search" />
        <section class="search">
            <h1>"Search published work"</h1>
            <Form method="GET" action="">
                <input type="search" name="q" prop:value=q data-testid="search-query" placeholder="Words to find" />
                <button type="submit" data-testid="search-go">"Search"</button>
            </Form>
            <Transition fallback=|| view! { <p>"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match results.await {
                        Ok(None) => ().into_any(),
                        Ok(Some(results)) if results.hits.is_empty() => view! { <p class="muted">"Nothing matches."</p> }.into_any(),
                        Ok(Some(results)) => {
                            let next = results.next_offset.map(|n| format!("/search?q={}&offset={n}", encode(&results.query)));
                            view! {
                                <ol class="hits" data-testid="hits">
                                    {results.hits.into_iter().map(|hit| view! {
                                        <li>
                                            <A href=format!("/s/{}", hit.id)>{hit.title}</A>
                                            " · " {author_link(hit.author)} " · round " {hit.round}
                                            {hit.score.map(|s| format!(" · {s}/100"))}
                                            <p class="snippet">{highlighted(&hit.snippet)}</p>
                                        </li>
                                    }).collect_view()}
                                </ol>
                                {next.map(|href| view! { <A href=href>"More results"</A> })}
                            }.into_any()
                        }
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The snippet as text with `<mark>` around the matches, which the server
/// put between U+0002 and U+0003 (characters no submission can hold).
fn highlighted(snippet: &str) -> impl IntoView {
    let mut parts = Vec::new();
    for (i, piece) in snippet.split(['\u{2}', '\u{3}']).enumerate() {
        let piece = piece.to_owned();
        parts.push(if i % 2 == 1 {
            view! { <mark>{piece}</mark> }.into_any()
        } else {
            view! { {piece} }.into_any()
        });
    }
    parts
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

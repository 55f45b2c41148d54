use leptos::prelude::*;

use crate::components::scroll_region::ScrollRegion;
use leptos_router::components::A;
use meritree_core::submissions::{EntryView, SubmissionStatus};

/// A table of entries: rank (when ranked), title, author, status, score,
/// reward.
#[component]
pub fn EntryTable(entries: Vec<EntryView>, #[prop(optional)] ranked: bool) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted">"No entries yet."</p> }.into_any();
    }
    view! {
        <ScrollRegion label="Entries">
            <table class="components entries">
                <thead>
                    <tr>
                        {ranked.then(|| view! { <th>"#"</th> })}
                        <th>"Work"</th><th>"By"</th><th>"Status"</th><th>"Score"</th><th>"Points"</th>
                    </tr>
                </thead>
                <tbody>
                    {entries.into_iter().enumerate().map(|(i, entry)| view! {
                        <tr data-testid="entry-row" data-status=entry.status.as_str()>
                            {ranked.then(|| view! { <td>{i + 1}</td> })}
                            <td><A href=format!("/s/{}", entry.id)>{entry.title}</A></td>
                            <td>{author_link(entry.author)}</td>
                            <td>{status_label(entry.status)}</td>
                            <td data-testid="entry-score">{entry.score.map(|s| s.to_string()).unwrap_or_default()}</td>
                            <td data-testid="entry-reward">{entry.reward.map(|r| r.to_string()).unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
    .into_any()
}

pub fn author_link(author: Option<String>) -> impl IntoView {
    author.map(|handle| view! { <A href=format!("/u/{handle}")>"@" {handle.clone()}</A> })
}

pub fn status_label(status: SubmissionStatus) -> &'static str {
    status.label()
}

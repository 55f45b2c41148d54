use leptos::prelude::*;

use crate::components::scroll_region::ScrollRegion;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use meritree_core::live::LiveEvent;
use meritree_core::submissions::{Stage, SubmissionStatus, SubmissionView};

use super::entries::author_link;
use crate::live::Live;
use crate::server_fns::work::submission;

/// `/s/{id}`: a work, where its evaluation stands (live), its score
/// breakdown and its reward.
#[component]
pub fn SubmissionPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let live = Live::get();
    let changes = live.changes(move |event| {
        matches!(event, LiveEvent::Submission { id: changed, .. } if changed.as_str() == id())
            || matches!(event, LiveEvent::Round { paid: true, .. })
    });
    let work = Resource::new(move || (id(), changes.get()), |(id, _)| submission(id));
    view! {
        <section class="submission">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match work.await {
                        Ok(work) => view! { <Work work /> }.into_any(),
                        Err(err) => view! {
                            <Title text="Not found" />
                            <p class="error" role="alert">{err.message}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Work(work: SubmissionView) -> impl IntoView {
    let description = match (work.status, work.score) {
        (SubmissionStatus::Scored, Some(score)) => {
            format!("Scored {score}/100 in round {}", work.round)
        }
        (status, _) => format!("{} · round {}", status.label(), work.round),
    };
    let title = work.title.clone();
    view! {
        <Title text=title.clone() />
        <Meta name="description" content=description.clone() />
        <Meta property="og:title" content=title.clone() />
        <Meta property="og:description" content=description />
        <Meta property="og:type" content="article" />
        <h1 data-testid="work-title">{title}</h1>
        <p class="muted">
            "By " {author_link(work.author.clone())} " in "
            <A href=format!("/rounds/{}", work.round)>"round " {work.round}</A>
        </p>
        <p class="status-line" data-testid="work-status" data-status=work.status.as_str()>
            {work.status.label()}
            {work.score.map(|s| view! { " · " <strong data-testid="work-score">{s}</strong> "/100" })}
            {work.reward.map(|r| view! { " · earned " <strong data-testid="work-reward">{r}</strong> " points" })}
        </p>
        <Progress work=work.clone() />
        {work.reason.clone().map(|reason| view! { <p class="reason" data-testid="work-reason">{reason}</p> })}
        {work.duplicate_of.clone().map(|original| view! {
            <p>"A copy of " <A href=format!("/s/{original}")>"earlier work"</A> "."</p>
        })}
        {(!work.breakdown.is_empty()).then(|| view! {
            <ScrollRegion label="Score breakdown">
                <table class="components breakdown">
                    <thead><tr><th>"Criterion"</th><th>"Score"</th><th>"Weight"</th></tr></thead>
                    <tbody>
                        {work.breakdown.iter().map(|c| view! {
                            <tr><td>{c.criterion.clone()}</td><td>{c.score} " / " {c.out_of}</td><td>{c.weight}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </ScrollRegion>
        })}
        {work.flags.iter().map(|f| view! { <p class="flag">{f.detail.clone()}</p> }).collect_view()}
        {(work.status == SubmissionStatus::Scored && work.reward.is_none()).then(|| view! {
            <p class="muted">"Its round's pool is shared when the round closes. Points paid then settle with the next round and become claimable tokens on the rewards page."</p>
        })}
        {work.image.as_ref().map(|id| view! {
            <img class="work-image" src=id.url() alt=format!("The image of {}", work.title) data-testid="work-image" />
        })}
        <article class="work-body" inner_html=work.body_html />
    }
}

/// The four stages: done, running or waiting.
#[component]
fn Progress(work: SubmissionView) -> impl IntoView {
    let done = |stage: Stage| work.stages.iter().rev().find(|s| s.stage == stage).cloned();
    view! {
        <ol class="stages" data-testid="stages">
            {Stage::ALL.into_iter().map(|stage| {
                let record = done(stage);
                let state = match (&record, work.stage) {
                    (Some(r), _) if r.outcome != "error" => "done",
                    (_, Some(current)) if current == stage => "running",
                    (Some(_), _) => "error",
                    _ => "waiting",
                };
                view! {
                    <li class=format!("stage {state}") data-stage=stage.as_str() data-state=state>
                        <strong>{stage.label()}</strong>
                        {record.map(|r| view! {
                            <span class="muted">" — " {r.summary}
                                {r.model.map(|m| format!(" ({m}, {} ms)", r.duration_ms))}
                            </span>
                        })}
                    </li>
                }
            }).collect_view()}
        </ol>
    }
}

//! The four stages. Each reads the submission, does its one check and says
//! what it found, with a record of its inputs, outputs, model and timing.
//! The rules they apply live in `meritree_core::submissions`.

use meritree_ai::{ChatRequest, JsonSchemaFormat, Message, ResponseFormat, Role};
use meritree_core::submissions::fraud::Observations;
use meritree_core::submissions::judge::Verdict;
use meritree_core::submissions::{text, Stage, SubmissionStatus};
use meritree_store::evaluations::{self as store, StageRecord};
use meritree_store::submissions::{self as submissions, SubmissionRecord};
use serde_json::json;

use super::{Evaluation, OwnedResult, Run, StageFailure, StageOutcome};
use crate::ai::AiError;
use crate::clock;

/// Runs `stage` on the work as the lease's earlier stages left it.
pub(super) async fn run(
    ev: &Evaluation<'_>,
    stage: Stage,
    run: &Run,
    attempts: i64,
) -> Result<StageOutcome, StageFailure> {
    let timer = Timer::start(stage);
    let work = &run.work;
    match stage {
        Stage::Moderation => moderation(ev, work, timer, attempts).await,
        Stage::Originality => originality(ev, work, timer).await,
        Stage::Quality => quality(ev, work, timer, attempts).await,
        Stage::Fraud => fraud(ev, run, timer).await,
    }
}

/// Times a stage and builds its record.
struct Timer {
    stage: Stage,
    started_ms: u64,
}

impl Timer {
    fn start(stage: Stage) -> Self {
        Self {
            stage,
            started_ms: clock::unix_ms(),
        }
    }

    fn record(
        &self,
        outcome: &str,
        by: Option<(&str, &str)>,
        input: serde_json::Value,
        output: serde_json::Value,
        summary: impl Into<String>,
    ) -> StageRecord {
        let now = clock::unix_ms();
        StageRecord {
            stage: self.stage.as_str().to_owned(),
            outcome: outcome.to_owned(),
            provider: by.map(|(p, _)| p.to_owned()),
            model: by.map(|(_, m)| m.to_owned()),
            input: input.to_string(),
            output: output.to_string(),
            summary: summary.into(),
            started_at_ms: i64::try_from(self.started_ms).unwrap_or(i64::MAX),
            duration_ms: i64::try_from(now.saturating_sub(self.started_ms)).unwrap_or(i64::MAX),
        }
    }
}

/// What an AI error means for the stage: an upstream that refused the
/// request will refuse it again; anything else may pass later.
fn ai_failure(timer: &Timer, input: serde_json::Value, error: AiError) -> StageFailure {
    let message = error.to_string();
    let record = timer.record(
        "error",
        None,
        input,
        json!({ "error": message }),
        message.clone(),
    );
    match error {
        AiError::Rejected { .. } | AiError::Model(_) | AiError::NotConfigured => {
            StageFailure::GiveUp {
                record: Box::new(record),
                reason: format!("the AI gateway refused the evaluation: {message}"),
            }
        }
        _ => StageFailure::Retry {
            record: Box::new(record),
            error: message,
        },
    }
}

/// The block list (whole words of the normalised text), then the
/// configured moderation model. Either can hold the work for a moderator;
/// so does a model that cannot check it (it refuses the text, or fails on
/// every try): unchecked work waits for a person rather than failing.
async fn moderation(
    ev: &Evaluation<'_>,
    work: &SubmissionRecord,
    timer: Timer,
    attempts: i64,
) -> Result<StageOutcome, StageFailure> {
    let policy = ev.work_policy();
    let normal = text::normalise(&work.title, &work.body);
    let words: std::collections::HashSet<&str> = normal.split(' ').collect();
    let blocked: Vec<&String> = policy
        .block_list
        .iter()
        .filter(|w| words.contains(w.to_lowercase().as_str()))
        .collect();
    let done = |record| StageOutcome {
        record,
        result: OwnedResult::default(),
        next: Some(Stage::Originality),
    };
    let list_input = json!({ "block_list_size": policy.block_list.len() });
    if !blocked.is_empty() {
        return Ok(done(timer.record(
            "flagged",
            None,
            list_input,
            json!({ "blocked": blocked }),
            "Held for a moderator: the text uses a blocked word",
        )));
    }
    let Some(model) = &policy.moderation_model else {
        return Ok(done(timer.record(
            "ok",
            None,
            list_input,
            json!({ "blocked": blocked }),
            "Nothing on the block list",
        )));
    };
    let text = format!("{}\n\n{}", work.title, work.body);
    let input = json!({
        "block_list_size": policy.block_list.len(),
        "model": model,
        "chars": text.chars().count(),
    });
    let answer = match ev.ai().platform_moderate(model, text).await {
        Ok(answer) => answer,
        Err(error) => {
            let message = error.to_string();
            let last_try = attempts >= i64::from(policy.max_attempts);
            return match ai_failure(&timer, input.clone(), error) {
                StageFailure::Retry { .. } if last_try => Ok(unchecked(&timer, input, &message)),
                StageFailure::GiveUp { .. } => Ok(unchecked(&timer, input, &message)),
                retry => Err(retry),
            };
        }
    };
    let verdict = &answer.value;
    let output = json!({
        "blocked": blocked,
        "flagged": verdict.flagged,
        "categories": verdict.categories,
        "scores": verdict.scores,
    });
    let by = Some((answer.provider.as_str(), answer.model.as_str()));
    let (outcome, summary) = if verdict.flagged {
        let why = if verdict.categories.is_empty() {
            String::new()
        } else {
            format!(" ({})", verdict.categories.join(", "))
        };
        (
            "flagged",
            format!("Held for a moderator: the moderation model flagged it{why}"),
        )
    } else {
        ("ok", "The moderation model found nothing".to_owned())
    };
    Ok(done(timer.record(outcome, by, input, output, summary)))
}

/// Work the moderation model could not check, held for a moderator.
fn unchecked(timer: &Timer, input: serde_json::Value, error: &str) -> StageOutcome {
    StageOutcome {
        record: timer.record(
            "flagged",
            None,
            input,
            json!({ "error": error }),
            format!("Held for a moderator: the moderation model could not check it ({error})"),
        ),
        result: OwnedResult::default(),
        next: Some(Stage::Originality),
    }
}

/// Exact copies by fingerprint, then near-duplicates by embedding. A copy
/// skips the judge.
async fn originality(
    ev: &Evaluation<'_>,
    work: &SubmissionRecord,
    timer: Timer,
) -> Result<StageOutcome, StageFailure> {
    if let Some(earlier) =
        submissions::earlier_with_fingerprint(ev.db(), &work.fingerprint, &work.id, work.seq)
            .await?
    {
        return Ok(StageOutcome {
            record: timer.record(
                "duplicate",
                None,
                json!({ "fingerprint": work.fingerprint }),
                json!({ "copy_of": earlier.id }),
                "An exact copy of earlier work",
            ),
            result: OwnedResult {
                duplicate_of: Some(earlier.id),
                similarity: Some(1.0),
                ..Default::default()
            },
            next: Some(Stage::Fraud),
        });
    }
    if let Some(copy) = image_copy(ev, work).await? {
        return Ok(StageOutcome {
            record: timer.record(
                "duplicate",
                None,
                json!({ "image": work.image_id }),
                json!({ "copy_of": copy.id, "bits_apart": copy.bits }),
                format!(
                    "Its image is a copy of earlier work's ({} of 64 bits apart)",
                    copy.bits
                ),
            ),
            result: OwnedResult {
                duplicate_of: Some(copy.id),
                ..Default::default()
            },
            next: Some(Stage::Fraud),
        });
    }
    let policy = ev.work_policy();
    let text = format!("{}\n\n{}", work.title, work.body);
    let input = json!({ "model": policy.embedding_model, "chars": text.chars().count() });
    let answer = ev
        .ai()
        .platform_embed(&policy.embedding_model, vec![text])
        .await
        .map_err(|e| ai_failure(&timer, input.clone(), e))?;
    let Some(vector) = answer.value.vectors.into_iter().next() else {
        let record = timer.record("error", None, input, json!({}), "no embedding came back");
        return Err(StageFailure::Retry {
            record: Box::new(record),
            error: "the embedding provider returned no vector".into(),
        });
    };
    if vector.is_empty() || vector.iter().any(|x| !x.is_finite()) {
        let record = timer.record("error", None, input, json!({}), "unusable embedding");
        return Err(StageFailure::Retry {
            record: Box::new(record),
            error: "the embedding provider returned an unusable vector".into(),
        });
    }
    let model = format!("{}/{}", answer.provider, answer.model);
    let unit = text::unit(vector);
    // Stored with the stage's result; indexed here at once, so work
    // checked after this one finds it (adding an id twice is a no-op).
    let stored = Some((model.clone(), text::vector_to_bytes(&unit)));
    let threshold = policy.duplicate_similarity;
    // Searching and inserting into the graph is milliseconds of CPU: off
    // the async workers.
    let (nearest, later) = {
        let index = ev.index().clone();
        let (id, account, seq, model) = (
            work.id.clone(),
            work.account_id.clone(),
            work.seq,
            model.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let found = index.neighbourhood(&id, seq, &model, &unit, threshold);
            index.add(&id, &account, seq, &model, unit);
            (found.earlier, found.similar_later)
        })
        .await
        .expect("the vector index does not panic")
    };
    let by = Some((answer.provider.as_str(), answer.model.as_str()));
    let output = json!({
        "nearest": nearest.as_ref().map(|n| &n.id),
        "similarity": nearest.as_ref().map(|n| n.similarity),
        "threshold": threshold,
        "cost_nanos": answer.cost_nanos,
    });
    match nearest.filter(|n| n.similarity >= threshold) {
        Some(near) => Ok(StageOutcome {
            record: timer.record(
                "duplicate",
                by,
                input,
                output,
                format!(
                    "A near-duplicate of earlier work ({:.0}% similar)",
                    near.similarity * 100.0
                ),
            ),
            result: OwnedResult {
                duplicate_of: Some(near.id),
                similarity: Some(f64::from(near.similarity)),
                vector: stored,
                ..Default::default()
            },
            next: Some(Stage::Fraud),
        }),
        None => {
            let copies = mark_later_copies(ev, work, later).await?;
            let mut output = output;
            output["later_copies"] = json!(copies);
            Ok(StageOutcome {
                record: timer.record("ok", by, input, output, "Original: no close earlier work"),
                result: OwnedResult {
                    vector: stored,
                    ..Default::default()
                },
                next: Some(Stage::Quality),
            })
        }
    }
}

/// Later work that copies this one but had its originality checked first
/// (jobs run concurrently, and a retried embedding runs late) found
/// nothing earlier and went on as original: it is marked a copy of this
/// work now, unless it was paid already. Marking is idempotent, so a rerun
/// of this stage after a crash changes nothing.
async fn mark_later_copies(
    ev: &Evaluation<'_>,
    work: &SubmissionRecord,
    later: Vec<crate::evaluation::index::Neighbour>,
) -> Result<Vec<String>, StageFailure> {
    let mut marked = Vec::new();
    for copy in later {
        let similarity = f64::from(copy.similarity);
        if !submissions::mark_later_copy(ev.db(), &copy.id, &work.id, similarity).await? {
            // Paid already, decided by a moderator, or linked to other work.
            tracing::warn!(copy = %copy.id, original = %work.id, similarity, "later work resembles this but was not marked a copy");
        } else {
            tracing::info!(copy = %copy.id, original = %work.id, similarity, "later work marked a copy");
            if let Ok(view) = ev.submissions().get(&copy.id.clone().into()).await {
                ev.announce(&view);
            }
            marked.push(copy.id);
        }
    }
    Ok(marked)
}

struct ImageCopy {
    id: String,
    bits: u32,
}

/// The earliest earlier work whose image's difference hash is within the
/// configured distance of this work's image. Candidates come from the
/// hash's bands (one must agree for hashes three bits apart or closer),
/// then are checked bit by bit.
async fn image_copy(
    ev: &Evaluation<'_>,
    work: &SubmissionRecord,
) -> Result<Option<ImageCopy>, StageFailure> {
    use meritree_core::submissions::image::{bands, distance};
    let Some(image_id) = &work.image_id else {
        return Ok(None);
    };
    let Some(image) = meritree_store::images::get(ev.db(), image_id).await? else {
        return Ok(None);
    };
    let hash = image.hash as u64;
    let limit = ev.work_policy().image_duplicate_distance;
    let candidates =
        meritree_store::images::earlier_sharing_a_band(ev.db(), bands(hash), work.seq, 1_000)
            .await?;
    Ok(candidates.into_iter().find_map(|(id, other)| {
        let bits = distance(hash, other as u64);
        (bits <= limit).then_some(ImageCopy { id, bits })
    }))
}

/// The LLM judge, asked for the rubric's JSON and read strictly.
async fn quality(
    ev: &Evaluation<'_>,
    work: &SubmissionRecord,
    timer: Timer,
    attempts: i64,
) -> Result<StageOutcome, StageFailure> {
    let policy = ev.work_policy();
    let theme = ev.competitions().theme(work.round).await?;
    let rubric = &policy.rubric;
    let request = ChatRequest {
        model: policy.judge_model.clone(),
        messages: vec![
            Message::new(Role::System, rubric.system_prompt()),
            Message::new(
                Role::User,
                rubric.user_prompt(&theme, &work.title, &work.body),
            ),
        ],
        max_tokens: Some(400),
        temperature: Some(0.0),
        stream: false,
        // Only candidates that guarantee the form are asked.
        response_format: Some(ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: "verdict".into(),
                schema: rubric.json_schema(),
                strict: Some(true),
            },
        }),
        ..Default::default()
    };
    let input = json!({ "route": policy.judge_model, "request": request, "rubric": rubric });
    let answer = ev
        .ai()
        .platform_chat(&policy.judge_model, &request)
        .await
        .map_err(|e| ai_failure(&timer, input.clone(), e))?;
    let by = Some((answer.provider.as_str(), answer.model.as_str()));
    let output = json!({ "text": answer.value.text, "usage": answer.value.usage, "cost_nanos": answer.cost_nanos });
    let verdict = match Verdict::parse(rubric, &answer.value.text) {
        Ok(verdict) => verdict,
        Err(error) => {
            let record = timer.record(
                "error",
                by,
                input,
                output,
                format!("Unusable answer: {error}"),
            );
            if attempts >= i64::from(policy.judge_attempts) {
                return Err(StageFailure::GiveUp {
                    record: Box::new(record),
                    reason: format!(
                        "the judge did not answer in the required form after {attempts} tries"
                    ),
                });
            }
            return Err(StageFailure::Retry {
                record: Box::new(record),
                error: error.to_string(),
            });
        }
    };
    let (outcome, summary) = if verdict.safe {
        (
            "ok",
            format!("Scored {} of 100: {}", verdict.score, verdict.reason),
        )
    } else {
        (
            "flagged",
            "Held for a moderator: the judge found it unsafe to publish".to_owned(),
        )
    };
    Ok(StageOutcome {
        record: timer.record(outcome, by, input, output, summary),
        result: OwnedResult {
            score: Some(i64::from(verdict.score)),
            breakdown: Some(serde_json::to_string(&verdict.breakdown).expect("scores serialise")),
            reason: Some(verdict.reason),
            ..Default::default()
        },
        next: Some(Stage::Fraud),
    })
}

/// Bursts, clusters and self-copies; then the submission's final status.
async fn fraud(ev: &Evaluation<'_>, run: &Run, timer: Timer) -> Result<StageOutcome, StageFailure> {
    let work = &run.work;
    let policy = &ev.work_policy().fraud;
    let since = work.created_at - policy.window_secs;
    let db = ev.db();
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let recent = submissions::recent_counts(
        db,
        &work.account_id,
        work.client_ip.as_deref(),
        since,
        work.created_at,
    )
    .await?;
    let by_account = count(recent.by_account);
    let by_address = recent.by_address.map(count);
    let by_wallet = recent.by_wallet.map(count);
    let original = match &work.duplicate_of {
        Some(id) => submissions::get(db, id).await?,
        None => None,
    };
    let observations = Observations {
        by_account,
        by_address,
        by_wallet,
        cluster_with: original
            .as_ref()
            .filter(|o| {
                o.account_id != work.account_id
                    && o.client_ip.is_some()
                    && o.client_ip == work.client_ip
            })
            .map(|o| o.id.clone()),
        copies_own: original
            .as_ref()
            .filter(|o| o.account_id == work.account_id)
            .map(|o| o.id.clone()),
    };
    let decision = policy.decide(&observations);
    // This lease's stages are not written yet; earlier leases' are, unless
    // the lease began at the first stage (nothing before it can flag).
    let held_before = run.flagged()
        || (run.from != Stage::Moderation && store::was_flagged(db, &work.id).await?);
    // Content a stage flagged waits for a moderator even when it is a copy:
    // resubmitting held work must not settle it as a duplicate (approved,
    // a held copy becomes one). A fraud hold is about the payout, which a
    // copy does not get, so a copy is just a copy.
    let final_status = if held_before {
        SubmissionStatus::InReview
    } else if work.duplicate_of.is_some() {
        SubmissionStatus::Duplicate
    } else if decision.hold {
        SubmissionStatus::InReview
    } else {
        SubmissionStatus::Scored
    };
    let summary = if decision.flags.is_empty() {
        "No fraud signals".to_owned()
    } else {
        decision
            .flags
            .iter()
            .map(|f| f.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let outcome = if decision.hold { "flagged" } else { "ok" };
    let flags = serde_json::to_string(&decision.flags).expect("flags serialise");
    Ok(StageOutcome {
        record: timer.record(
            outcome,
            None,
            json!({
                "by_account": by_account, "by_address": by_address, "by_wallet": by_wallet,
                "cluster_with": observations.cluster_with, "copies_own": observations.copies_own,
                "policy": policy,
            }),
            json!({ "flags": decision.flags, "payout_percent": decision.payout_percent, "hold": decision.hold }),
            summary,
        ),
        result: OwnedResult {
            flags: Some(flags),
            payout_percent: Some(i64::from(decision.payout_percent)),
            reason: (final_status == SubmissionStatus::Duplicate)
                .then(|| "A copy of earlier work: it earns nothing".to_owned()),
            final_status: Some(final_status),
            ..Default::default()
        },
        next: None,
    })
}

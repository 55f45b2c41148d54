//! The AI playground's shared rules and shapes: which preferences a member
//! may pick, what a prompt and a token limit may be (checked the same way in
//! the browser and on the server), the events a streamed answer is sent as
//! (newline-delimited JSON) and how costs read for people.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// The longest prompt the playground sends, in characters.
pub const PROMPT_MAX_CHARS: usize = 8_000;

/// The largest `max_tokens` a request may ask for (as the OpenAI-compatible API).
pub const MAX_TOKENS_LIMIT: u32 = 32_768;

/// What to optimise for: the gateway's public model names of the same spelling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    Quality,
    #[default]
    Speed,
    Cost,
}

impl Preference {
    pub const ALL: [Preference; 3] = [Preference::Quality, Preference::Speed, Preference::Cost];

    /// The public model name the gateway resolves.
    pub const fn as_str(self) -> &'static str {
        match self {
            Preference::Quality => "quality",
            Preference::Speed => "speed",
            Preference::Cost => "cost",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Preference::Quality => "Quality",
            Preference::Speed => "Speed",
            Preference::Cost => "Cost",
        }
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preference {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preference::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptError {
    Empty,
    TooLong,
    BadMaxTokens,
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::Empty => f.write_str("write a prompt first"),
            PromptError::TooLong => {
                write!(f, "a prompt may hold at most {PROMPT_MAX_CHARS} characters")
            }
            PromptError::BadMaxTokens => write!(
                f,
                "max tokens must be a whole number from 1 to {MAX_TOKENS_LIMIT}"
            ),
        }
    }
}

/// A prompt worth sending: not blank, at most [`PROMPT_MAX_CHARS`]
/// characters (Unicode scalar values, as the browser's field counts them
/// closely enough for a limit this far from any model's).
pub fn validate_prompt(prompt: &str) -> Result<(), PromptError> {
    if prompt.trim().is_empty() {
        return Err(PromptError::Empty);
    }
    if prompt.chars().count() > PROMPT_MAX_CHARS {
        return Err(PromptError::TooLong);
    }
    Ok(())
}

/// An optional token limit: `None` leaves it to the model.
pub fn validate_max_tokens(max_tokens: Option<u32>) -> Result<(), PromptError> {
    match max_tokens {
        Some(n) if n == 0 || n > MAX_TOKENS_LIMIT => Err(PromptError::BadMaxTokens),
        _ => Ok(()),
    }
}

/// The token-limit field as typed: blank is no limit.
pub fn parse_max_tokens(raw: &str) -> Result<Option<u32>, PromptError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let n = raw.parse::<u32>().map_err(|_| PromptError::BadMaxTokens)?;
    validate_max_tokens(Some(n))?;
    Ok(Some(n))
}

/// One step of a streamed playground answer, sent as one line of JSON.
/// `Started` comes first, then `Text` pieces, then exactly one of
/// `Finished` or `Failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PlaygroundEvent {
    /// Which provider and model took the request (failover is over).
    Started {
        provider: String,
        model: String,
    },
    Text {
        text: String,
    },
    Finished {
        input_tokens: u64,
        output_tokens: u64,
        /// Billionths of a US dollar.
        cost_nanos: u64,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
}

impl PlaygroundEvent {
    /// The event as one line of JSON, newline included. Pure ASCII (every
    /// other character escaped as `\uXXXX`), so a line cut anywhere by the
    /// network is still valid UTF-8 on both sides of the cut.
    pub fn to_line(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        let mut line = String::with_capacity(json.len() + 1);
        for c in json.chars() {
            if c.is_ascii() {
                line.push(c);
            } else {
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    line.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        line.push('\n');
        line
    }
}

/// Reassembles events from text that arrives in arbitrary pieces: chunk
/// boundaries are not preserved by the network, lines are.
#[derive(Debug, Default)]
pub struct EventLines {
    pending: String,
}

impl EventLines {
    /// Adds a piece of the stream; returns the events it completed. A line
    /// that is not an event is skipped.
    pub fn push(&mut self, piece: &str) -> Vec<PlaygroundEvent> {
        self.pending.push_str(piece);
        let Some(end) = self.pending.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.pending.split_off(end + 1);
        let complete = std::mem::replace(&mut self.pending, rest);
        complete
            .split('\n')
            .filter(|line| !line.trim().is_empty())
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// Billionths of a dollar as people read them, exactly: `20000` is
/// `$0.00002`, `1500000000` is `$1.5`, and nothing at all is `free`.
pub fn format_nanodollars(nanos: u64) -> String {
    if nanos == 0 {
        return "free".to_owned();
    }
    let digits = format!("{nanos:010}");
    let (whole, fraction) = digits.split_at(digits.len() - 9);
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("${whole}")
    } else {
        format!("${whole}.{fraction}")
    }
}

/// What an account's AI requests used since a time, per provider and model
/// (`GET /api/v1/user/ai/usage` and the account page).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiUsageSummary {
    /// Unix seconds, inclusive.
    pub since: i64,
    /// Costliest first.
    pub models: Vec<ModelUsage>,
    pub total: UsageTotals,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    /// The compute node that answered, for requests the network served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub requests: u64,
    /// Of `requests`: answered from the cache, and failed.
    pub cached_requests: u64,
    pub failed_requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Billionths of a US dollar.
    pub cost_nanos: u64,
}

impl UsageTotals {
    pub fn add(&mut self, other: &UsageTotals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.cached_requests = self.cached_requests.saturating_add(other.cached_requests);
        self.failed_requests = self.failed_requests.saturating_add(other.failed_requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cost_nanos = self.cost_nanos.saturating_add(other.cost_nanos);
    }
}

/// A spending limit as its account sees it: the limit, what the current
/// period has spent of it, and when that period ends.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// `account`, or `api_key` (then `api_key_id` names the key).
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// `day` or `month` (UTC).
    pub period: String,
    /// Billionths of a US dollar.
    pub limit_nanos: u64,
    pub spent_nanos: u64,
    /// Unix seconds.
    pub resets_at: i64,
}

/// An account's AI spending: this month's usage and every budget on it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiSpending {
    pub usage: AiUsageSummary,
    pub budgets: Vec<BudgetStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_must_be_present_and_bounded() {
        assert_eq!(validate_prompt(""), Err(PromptError::Empty));
        assert_eq!(validate_prompt(" \n\t"), Err(PromptError::Empty));
        assert_eq!(validate_prompt("Name three colours."), Ok(()));
        assert_eq!(validate_prompt(&"é".repeat(PROMPT_MAX_CHARS)), Ok(()));
        assert_eq!(
            validate_prompt(&"a".repeat(PROMPT_MAX_CHARS + 1)),
            Err(PromptError::TooLong)
        );
    }

    #[test]
    fn max_tokens_is_blank_or_in_range() {
        assert_eq!(parse_max_tokens(""), Ok(None));
        assert_eq!(parse_max_tokens(" 64 "), Ok(Some(64)));
        assert_eq!(parse_max_tokens("0"), Err(PromptError::BadMaxTokens));
        assert_eq!(parse_max_tokens("-1"), Err(PromptError::BadMaxTokens));
        assert_eq!(parse_max_tokens("1.5"), Err(PromptError::BadMaxTokens));
        assert_eq!(
            parse_max_tokens(&(MAX_TOKENS_LIMIT + 1).to_string()),
            Err(PromptError::BadMaxTokens)
        );
        assert_eq!(validate_max_tokens(Some(MAX_TOKENS_LIMIT)), Ok(()));
    }

    #[test]
    fn preferences_are_the_public_model_names() {
        for p in Preference::ALL {
            assert_eq!(p.as_str().parse::<Preference>(), Ok(p));
        }
        assert_eq!(Preference::default(), Preference::Speed);
        assert!("fast".parse::<Preference>().is_err());
    }

    #[test]
    fn costs_read_exactly() {
        assert_eq!(format_nanodollars(0), "free");
        assert_eq!(format_nanodollars(1), "$0.000000001");
        assert_eq!(format_nanodollars(20_000), "$0.00002");
        assert_eq!(format_nanodollars(1_000_000_000), "$1");
        assert_eq!(format_nanodollars(1_500_000_000), "$1.5");
        assert_eq!(format_nanodollars(12_345_678_901), "$12.345678901");
        assert_eq!(format_nanodollars(u64::MAX), "$18446744073.709551615");
    }

    #[test]
    fn events_survive_any_split() {
        let events = vec![
            PlaygroundEvent::Started {
                provider: "local".into(),
                model: "smollm2-135m-instruct".into(),
            },
            PlaygroundEvent::Text {
                text: "Red, grün, 青 and 🟦\nblue.".into(),
            },
            PlaygroundEvent::Finished {
                input_tokens: 12,
                output_tokens: 30,
                cost_nanos: 0,
            },
            PlaygroundEvent::Failed {
                code: ErrorCode::BudgetExceeded,
                message: "the monthly budget is spent".into(),
            },
        ];
        let wire: String = events.iter().map(PlaygroundEvent::to_line).collect();
        assert!(wire.is_ascii());
        assert_eq!(wire.matches('\n').count(), events.len());
        for size in 1..wire.len() {
            let mut lines = EventLines::default();
            let mut seen = Vec::new();
            for piece in wire.as_bytes().chunks(size) {
                seen.extend(lines.push(std::str::from_utf8(piece).unwrap()));
            }
            assert_eq!(seen, events, "pieces of {size} bytes");
        }
    }
}

/// Every account's requests to one provider's model on one UTC day: what
/// the admin console charts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyModelSpend {
    /// The day's first second (unix, UTC).
    pub day: i64,
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub failed_requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Billionths of a US dollar.
    pub cost_nanos: u64,
}

/// The most days of spending one request may ask for.
pub const MAX_SPENDING_DAYS: u32 = 92;

//! Each adapter against a local fake upstream serving recorded-shape
//! fixtures of that provider's wire format.

mod anthropic;
mod fake;
mod gemini;
mod openai;

//! Structured logging through `tracing`.

use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

/// Installs the global subscriber. Call once, before anything logs.
/// Logs to standard output, or to standard error for commands whose
/// standard output is their result (a configuration, a report).
pub fn init(settings: &LogSettings, to_stderr: bool) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|err| {
        eprintln!(
            "meritree: invalid log filter {:?} ({err}); using \"info\"",
            settings.filter
        );
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (settings.format, to_stderr) {
        (LogFormat::Pretty, false) => builder.init(),
        (LogFormat::Json, false) => builder.json().flatten_event(true).init(),
        (LogFormat::Pretty, true) => builder.with_writer(std::io::stderr).init(),
        (LogFormat::Json, true) => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .init(),
    }
}

//! Structured logging through `tracing`, and, in builds with the `otlp`
//! feature and `log.otlp_endpoint` set, every span (one per request, with
//! its `x-request-id`) exported as OpenTelemetry traces over OTLP/HTTP.

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

/// Keeps the trace exporter running; `shutdown` sends what is buffered.
#[must_use = "dropping it is fine; `shutdown` flushes the traces still buffered"]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans not yet exported and stops the exporter. Blocks:
    /// call it off the async runtime's threads (`spawn_blocking`).
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider {
            if let Err(err) = provider.shutdown() {
                eprintln!("meritree: exporting the last traces failed: {err}");
            }
        }
    }
}

/// Installs the global subscriber. Call once, before anything logs.
/// Logs to standard output, or to standard error for commands whose
/// standard output is their result (a configuration, a report).
pub fn init(settings: &LogSettings, to_stderr: bool) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|err| {
        eprintln!(
            "meritree: invalid log filter {:?} ({err}); using \"info\"",
            settings.filter
        );
        EnvFilter::new("info")
    });
    let writer = if to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    let (pretty, json) = match settings.format {
        LogFormat::Pretty => (
            Some(tracing_subscriber::fmt::layer().with_writer(writer)),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(writer),
            ),
        ),
    };
    if let Some(endpoint) = settings.otlp_endpoint.as_deref() {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "log.otlp_endpoint: {endpoint:?} is not an http(s) URL"
            ));
        }
    }
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(pretty)
        .with(json);

    #[cfg(feature = "otlp")]
    {
        let (layer, provider) = match settings.otlp_endpoint.as_deref() {
            Some(endpoint) => {
                let (layer, provider) = otlp::layer(endpoint)?;
                (Some(layer), Some(provider))
            }
            None => (None, None),
        };
        subscriber.with(layer).init();
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otlp"))]
    {
        if settings.otlp_endpoint.is_some() {
            return Err(
                "log.otlp_endpoint is set, but this build has no OTLP export \
                        (build the server with `--features otlp`)"
                    .to_owned(),
            );
        }
        subscriber.init();
        Ok(Telemetry {})
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing::Subscriber;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    /// A layer that turns spans into traces, batched and sent to
    /// `endpoint` (an OTLP/HTTP collector's base URL, e.g.
    /// `http://127.0.0.1:4318`) from a thread of the exporter's own.
    pub fn layer<S>(endpoint: &str) -> Result<(impl Layer<S>, SdkTracerProvider), String>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(traces)
            .build()
            .map_err(|err| format!("log.otlp_endpoint: {err}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name("meritree").build())
            .build();
        let tracer = provider.tracer("meritree");
        // The log mailer (no SMTP configured) logs whole messages, links
        // with their tokens included: they stay in the local log.
        let not_mail = filter_fn(|meta| !meta.target().starts_with("meritree_platform::mailer"));
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(not_mail);
        Ok((layer, provider))
    }
}

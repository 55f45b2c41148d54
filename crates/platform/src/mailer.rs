//! Sending email: through an SMTP server (lettre) when one is configured,
//! else into the log, so a self-hosted instance without mail still shows
//! its operator every link it would have sent.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// No SMTP server: each message is written to the log at INFO.
    Log { from: Mailbox },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Log { from } => write!(f, "Mailer::Log(from {from})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Config(String),
    #[error("cannot send email: {0}")]
    Send(String),
}

/// The sender when none is configured.
pub const DEFAULT_FROM: &str = "Meritree <no-reply@meritree.invalid>";

impl Mailer {
    /// Messages go to the log.
    pub fn log(from: &str) -> Result<Self, MailError> {
        Ok(Mailer::Log {
            from: mailbox(from)?,
        })
    }

    /// Messages go to the SMTP server at `url`: `smtp://host:port` (plain,
    /// for a relay on this machine or a test sink), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://user:password@host:465`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(format!("email.smtp_url: {e}")))?
            .build();
        Ok(Mailer::Smtp {
            transport,
            from: mailbox(from)?,
        })
    }

    /// Sends a plain-text message to one address.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        match self {
            Mailer::Log { from } => {
                tracing::info!(%from, %to, %subject, %body, "email (no SMTP server configured)");
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to
                    .parse()
                    .map_err(|e| MailError::Send(format!("recipient {to:?}: {e}")))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .body(body)
                    .map_err(|e| MailError::Send(e.to_string()))?;
                transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                Ok(())
            }
        }
    }
}

fn mailbox(from: &str) -> Result<Mailbox, MailError> {
    from.parse()
        .map_err(|e| MailError::Config(format!("email.from {from:?}: {e}")))
}

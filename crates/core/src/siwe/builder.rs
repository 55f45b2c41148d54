//! Assembling a message on the client, checked before anyone signs it.

use super::{SiweError, SiweMessage, SiweTime};

/// Builds a [`SiweMessage`]; start with [`SiweMessage::builder`].
///
/// [`build`](Self::build) applies the same grammar as the server's parser,
/// so the client learns about a bad field before the user is asked to sign
/// rather than after.
///
/// ```
/// use meritree_core::eth::Address;
/// use meritree_core::siwe::{SiweMessage, SiweTime};
///
/// let address: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
/// let message = SiweMessage::builder(
///     "meritree.example",
///     address,
///     "https://meritree.example/login",
///     1,
///     "n0nceFromServer",
///     SiweTime::from_unix_millis(1_700_000_000_000).unwrap(),
/// )
/// .statement("Sign in to Meritree.")
/// .build()
/// .unwrap();
/// let text = message.to_string(); // what the wallet signs
/// assert!(text.starts_with("meritree.example wants you to sign in"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SiweMessageBuilder {
    message: SiweMessage,
}

impl SiweMessageBuilder {
    pub(super) fn new(message: SiweMessage) -> Self {
        Self { message }
    }

    /// Names the requesting origin's scheme in the first line
    /// (`https://meritree.example wants you to …`).
    pub fn scheme(mut self, scheme: impl Into<String>) -> Self {
        self.message.scheme = Some(scheme.into());
        self
    }

    pub fn statement(mut self, statement: impl Into<String>) -> Self {
        self.message.statement = Some(statement.into());
        self
    }

    pub fn expiration_time(mut self, time: SiweTime) -> Self {
        self.message.expiration_time = Some(time);
        self
    }

    pub fn not_before(mut self, time: SiweTime) -> Self {
        self.message.not_before = Some(time);
        self
    }

    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.message.request_id = Some(id.into());
        self
    }

    /// Appends one resource URI.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.message
            .resources
            .get_or_insert_with(Vec::new)
            .push(uri.into());
        self
    }

    /// Checks every field (see [`SiweMessage::validate`]).
    pub fn build(self) -> Result<SiweMessage, SiweError> {
        self.message.validate()?;
        Ok(self.message)
    }
}

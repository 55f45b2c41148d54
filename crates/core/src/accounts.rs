//! Account rules shared by the sign-up form and the server: what an email
//! address and a password must be, and the roles an account can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A normalised email address: trimmed and lower-cased.
///
/// Lower-casing the local part is technically lossy (RFC 5321 lets a server
/// treat it case-sensitively) but no mainstream provider does, and without it
/// `Ann@x.io` and `ann@x.io` could own two accounts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailError {
    Empty,
    TooLong,
    Malformed,
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmailError::Empty => "enter an email address",
            EmailError::TooLong => "that email address is too long",
            EmailError::Malformed => "that does not look like an email address",
        })
    }
}

impl Email {
    pub const MAX_LEN: usize = 254;

    /// What the address looks like (Unicode TS #39 skeleton, lower-cased):
    /// two addresses with the same skeleton are confusable, e.g. one with a
    /// Cyrillic `а` and one with a Latin `a`.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0)
            .flat_map(char::to_lowercase)
            .collect()
    }

    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Email(email))
        } else {
            Err(EmailError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A password that meets the policy for new passwords. Existing passwords
/// are checked against their hash, never against this policy, so tightening
/// it never locks anyone out.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    TooShort,
    TooLong,
    TooSimple,
    ContainsEmail,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::TooShort => {
                write!(f, "use at least {} characters", NewPassword::MIN_CHARS)
            }
            PasswordError::TooLong => {
                write!(f, "use at most {} characters", NewPassword::MAX_CHARS)
            }
            PasswordError::TooSimple => f.write_str("that password is too easy to guess"),
            PasswordError::ContainsEmail => {
                f.write_str("a password must not contain your email address")
            }
        }
    }
}

/// Passwords attackers try first; a long one that is a repetition of these
/// is caught by the distinct-character rule.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "password1",
    "password123",
    "1234567890",
    "0123456789",
    "qwertyuiop",
    "iloveyou12",
    "letmein123",
    "welcome123",
    "administrator",
    "changeme123",
    "meritree123",
    "abcdefghij",
    "qwerty1234",
    "1q2w3e4r5t",
    "trustno1234",
    "football12",
    "baseball12",
    "sunshine12",
    "princess12",
    "dragon1234",
    "monkey1234",
    "superman12",
];

impl NewPassword {
    /// NIST SP 800-63B asks for at least 8; 10 leaves a margin for offline attacks.
    pub const MIN_CHARS: usize = 10;
    /// Bounds the hashing work an attacker can ask of the server.
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        let lower = raw.to_lowercase();
        let mut distinct: Vec<char> = lower.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 4 || COMMON.contains(&lower.as_str()) {
            return Err(PasswordError::TooSimple);
        }
        if let Some(email) = email {
            let local = email.as_str().split('@').next().unwrap_or_default();
            if local.len() >= 4 && lower.contains(local) {
                return Err(PasswordError::ContainsEmail);
            }
        }
        Ok(NewPassword(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Never prints the password.
impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// What an account may do. Checked explicitly by each handler.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    NodeOperator,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::NodeOperator => "node_operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "member" => Ok(Role::Member),
            "node_operator" => Ok(Role::NodeOperator),
            "admin" => Ok(Role::Admin),
            _ => Err(()),
        }
    }
}

/// An account as its owner sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: AccountId,
    pub email: Option<String>,
    /// EIP-55 checksummed address of the bound wallet.
    pub wallet: Option<String>,
    pub role: Role,
    /// The public handle, once chosen.
    #[serde(default)]
    pub handle: Option<String>,
    /// Whether the owner proved the email address by a link sent to it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub email_verified: bool,
    /// Whether sign-in asks for a code from an authenticator app.
    pub totp_enabled: bool,
    /// The Telegram user id that signs in to it (the Mini App), once linked.
    #[serde(default)]
    pub telegram_id: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// An account as admins see it in the console.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedAccount {
    #[serde(flatten)]
    pub account: AccountView,
    /// When an admin disabled it (unix seconds); `None` while it may sign in.
    pub disabled_at: Option<i64>,
}

/// What a sign-in, sign-up or refresh returns (the tokens themselves travel
/// only in HttpOnly cookies).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub account: AccountView,
    /// Unix seconds; refresh before this.
    pub access_expires_at: i64,
    /// Unix seconds; the session ends here unless refreshed.
    pub refresh_expires_at: i64,
}

/// One of the account's signed-in devices, for the account page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: SessionId,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds of the last refresh.
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// A member's public handle, shown on their public pages (`/u/{handle}`):
/// 3 to 30 characters of lower-case ASCII letters, digits, `_` and `-`,
/// starting with a letter, and not a word the site uses for itself. ASCII
/// only, so no handle can look like another one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleError {
    TooShort,
    TooLong,
    BadStart,
    BadCharacter,
    Reserved,
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandleError::TooShort => "a handle has at least 3 characters",
            HandleError::TooLong => "a handle has at most 30 characters",
            HandleError::BadStart => "a handle starts with a letter",
            HandleError::BadCharacter => "use letters a to z, digits, _ and -",
            HandleError::Reserved => "that handle is reserved",
        })
    }
}

impl Handle {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 30;
    /// Words that name the site's own pages and roles.
    const RESERVED: [&'static str; 12] = [
        "admin",
        "api",
        "account",
        "meritree",
        "moderator",
        "operator",
        "root",
        "rounds",
        "search",
        "support",
        "system",
        "leaderboard",
    ];

    /// Trims and lower-cases, then checks the rule.
    pub fn parse(raw: &str) -> Result<Self, HandleError> {
        let handle = raw.trim().to_ascii_lowercase();
        let chars = handle.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(HandleError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(HandleError::TooLong);
        }
        if !handle
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(HandleError::BadCharacter);
        }
        if !handle.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(HandleError::BadStart);
        }
        if Self::RESERVED.contains(&handle.as_str()) {
            return Err(HandleError::Reserved);
        }
        Ok(Self(handle))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Handle {
    type Error = HandleError;

    fn try_from(raw: String) -> Result<Self, HandleError> {
        Handle::parse(&raw)
    }
}

impl From<Handle> for String {
    fn from(handle: Handle) -> Self {
        handle.0
    }
}

/// A label for an API key: 1 to 64 characters after trimming, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("give the key a name");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("a key name has at most 64 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("a key name cannot contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key as listed to its owner (the key itself is never shown again).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub name: String,
    /// The key's first characters, e.g. `mt_3fA9x`.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub scopes: Vec<ApiScope>,
    /// Unix seconds; `None`: until revoked.
    pub expires_at: Option<i64>,
}

/// Declares an id type: services take these, not bare strings, so one kind
/// of id cannot be passed where another is meant; each reads as `&str`
/// wherever text is wanted (the store, logs, URLs).
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use id_type;

id_type!(
    /// An account's id.
    AccountId
);
id_type!(
    /// A session's id: the refresh-token family a sign-in started.
    SessionId
);
id_type!(
    /// An API key's id (never the key itself).
    ApiKeyId
);

/// What an API key may do. Keys never manage credentials, identity or
/// other keys, and never act as an admin: those need a signed-in session.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// The OpenAI-compatible AI gateway under `/v1`.
    Ai,
    /// Reading the key owner's own data.
    Read,
    /// Submitting work and tasks (granted explicitly).
    Submit,
    /// Running a compute node (granted explicitly).
    Node,
}

impl ApiScope {
    pub const ALL: [ApiScope; 4] = [
        ApiScope::Ai,
        ApiScope::Read,
        ApiScope::Submit,
        ApiScope::Node,
    ];
    /// What a key gets when its creator names no scopes.
    pub const DEFAULT: [ApiScope; 2] = [ApiScope::Ai, ApiScope::Read];

    pub const fn as_str(self) -> &'static str {
        match self {
            ApiScope::Ai => "ai",
            ApiScope::Read => "read",
            ApiScope::Submit => "submit",
            ApiScope::Node => "node",
        }
    }

    /// A stored or requested list, e.g. `"ai read"`; unknown names are an
    /// error naming them, duplicates collapse, the order is canonical.
    pub fn parse_list<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<ApiScope>, String> {
        let mut scopes = Vec::new();
        for name in names {
            let scope = name.parse::<ApiScope>()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(scopes)
    }

    /// How a list is stored: space-separated names.
    pub fn join(scopes: &[ApiScope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromStr for ApiScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| format!("unknown API key scope {s:?}: use ai, read, submit or node"))
    }
}

/// A fresh proof of identity, asked for before an operation that changes
/// credentials or where value goes (step-up authentication).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum IdentityProof {
    Password {
        password: String,
    },
    Totp {
        code: String,
    },
    /// A SIWE message signed by the account's bound wallet.
    Wallet {
        message: String,
        signature: String,
    },
}

/// The longest an API key may be made to live; a key with no expiry lives
/// until revoked.
pub const MAX_API_KEY_TTL_DAYS: u32 = 366;

/// A newly created API key: the only time `key` is shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ann.Lee@Example.ORG ").unwrap().as_str(),
            "ann.lee@example.org"
        );
        assert_eq!(
            Email::parse("a+tag@mail.co.uk").unwrap().as_str(),
            "a+tag@mail.co.uk"
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        for bad in [
            "plainaddress",
            "@example.org",
            "ann@",
            "ann@localhost",
            "ann@@example.org",
            "ann lee@example.org",
            ".ann@example.org",
            "ann.@example.org",
            "a..b@example.org",
            "ann@-example.org",
            "ann@example..org",
            "ann@exa_mple.org",
            "ann@example.org\n",
        ] {
            let trimmed_is_fine = bad == "ann@example.org\n";
            assert_eq!(Email::parse(bad).is_ok(), trimmed_is_fine, "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn emails_deserialize_through_the_parser() {
        let email: Email = serde_json::from_str("\"Bob@Example.org\"").unwrap();
        assert_eq!(email.as_str(), "bob@example.org");
        assert!(serde_json::from_str::<Email>("\"bob\"").is_err());
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("ann.lee@example.org").unwrap();
        assert!(NewPassword::parse("correct horse battery", Some(&email)).is_ok());
        assert_eq!(
            NewPassword::parse("short1!", None),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            NewPassword::parse(&"x9".repeat(65), None),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            NewPassword::parse("aaaaaaaaaaaa", None),
            Err(PasswordError::TooSimple)
        );
        assert_eq!(
            NewPassword::parse("Password123", None),
            Err(PasswordError::TooSimple)
        );
        assert_eq!(
            NewPassword::parse("my ann.lee secret!", Some(&email)),
            Err(PasswordError::ContainsEmail)
        );
        // Counted in characters, not bytes.
        assert!(NewPassword::parse("ñandú ñandú", None).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse("correct horse battery", None).unwrap()
            ),
            "NewPassword(..)"
        );
    }

    #[test]
    fn api_key_names() {
        assert_eq!(
            ApiKeyName::parse("  ci deploy ").unwrap().as_str(),
            "ci deploy"
        );
        assert!(ApiKeyName::parse("   ").is_err());
        assert!(ApiKeyName::parse(&"k".repeat(65)).is_err());
        assert!(ApiKeyName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn scopes_parse_in_canonical_order_and_refuse_unknown_names() {
        assert_eq!(
            ApiScope::parse_list("read ai read".split(' ')),
            Ok(vec![ApiScope::Ai, ApiScope::Read])
        );
        assert_eq!(ApiScope::join(&ApiScope::DEFAULT), "ai read");
        assert!(ApiScope::parse_list(["admin"])
            .unwrap_err()
            .contains("admin"));
        for scope in ApiScope::ALL {
            assert_eq!(scope.as_str().parse::<ApiScope>(), Ok(scope));
        }
    }

    #[test]
    fn look_alike_addresses_share_a_skeleton() {
        let latin = Email::parse("ann@example.org").unwrap();
        let cyrillic_a = Email::parse("\u{430}nn@example.org").unwrap();
        assert_ne!(latin, cyrillic_a);
        assert_eq!(latin.skeleton(), cyrillic_a.skeleton());
        let other = Email::parse("bob@example.org").unwrap();
        assert_ne!(latin.skeleton(), other.skeleton());
    }

    #[test]
    fn handles_follow_one_rule() {
        assert_eq!(Handle::parse("  Ann_Lee-7 ").unwrap().as_str(), "ann_lee-7");
        assert_eq!(Handle::parse("an"), Err(HandleError::TooShort));
        assert_eq!(Handle::parse(&"a".repeat(31)), Err(HandleError::TooLong));
        assert_eq!(Handle::parse("7ann"), Err(HandleError::BadStart));
        assert_eq!(Handle::parse("_ann"), Err(HandleError::BadStart));
        assert_eq!(Handle::parse("ann lee"), Err(HandleError::BadCharacter));
        assert_eq!(Handle::parse("\u{430}nn"), Err(HandleError::BadCharacter));
        assert_eq!(Handle::parse("Admin"), Err(HandleError::Reserved));
        assert!(serde_json::from_str::<Handle>("\"x\"").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Member, Role::NodeOperator, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert!("root".parse::<Role>().is_err());
    }
}

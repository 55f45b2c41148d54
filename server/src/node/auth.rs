//! Who a node runs as: an API key with the `node` scope, or the operator's
//! wallet. With a wallet the node signs in with Sign-In With Ethereum
//! (EIP-4361) exactly as the browser does — a nonce from the platform, a
//! message built and signed here — and sends the session's access token as
//! its bearer credential; when the platform says the token expired, it
//! signs in again.

use alloy::signers::local::PrivateKeySigner;
use alloy::signers::Signer;
use meritree_core::siwe::{SiweChallenge, SiweMessage, SiweTime};
use meritree_platform::sessions::cookies;
use reqwest::header::SET_COOKIE;
use tokio::sync::Mutex;

use super::NodeError;

/// What the node proves itself with.
pub enum Credential {
    /// An API key with the `node` scope.
    ApiKey(String),
    /// The private key of the wallet bound to the operator's account.
    Wallet(PrivateKeySigner),
}

impl Credential {
    /// Reads a wallet's private key (hex, with or without `0x`) from the
    /// first line of `text`.
    pub fn wallet_from_key(text: &str) -> Result<Self, NodeError> {
        let key = text.lines().next().unwrap_or_default().trim();
        key.parse::<PrivateKeySigner>()
            .map(Credential::Wallet)
            .map_err(|_| NodeError::WalletKey)
    }
}

/// The bearer credential of the node's requests, kept between them.
pub(crate) struct Auth {
    credential: Credential,
    server: String,
    client: reqwest::Client,
    /// The access token of the wallet's session, once signed in.
    token: Mutex<Option<String>>,
}

impl Auth {
    pub(crate) fn new(credential: Credential, server: &str, client: reqwest::Client) -> Self {
        Self {
            credential,
            server: server.to_owned(),
            client,
            token: Mutex::new(None),
        }
    }

    /// Whether a refused credential is worth renewing (a wallet's session
    /// ends; an API key stays what it is).
    pub(crate) fn renewable(&self) -> bool {
        matches!(self.credential, Credential::Wallet(_))
    }

    /// The value of the `Authorization` header.
    pub(crate) async fn bearer(&self) -> Result<String, NodeError> {
        let signer = match &self.credential {
            Credential::ApiKey(key) => return Ok(format!("Bearer {key}")),
            Credential::Wallet(signer) => signer,
        };
        let mut token = self.token.lock().await;
        if token.is_none() {
            *token = Some(self.sign_in(signer).await?);
        }
        Ok(format!("Bearer {}", token.as_deref().unwrap_or_default()))
    }

    /// Forgets the session's token: the next request signs in again.
    pub(crate) async fn expired(&self) {
        *self.token.lock().await = None;
    }

    async fn sign_in(&self, signer: &PrivateKeySigner) -> Result<String, NodeError> {
        let challenge: SiweChallenge = checked(
            self.client
                .post(format!("{}/api/v1/auth/siwe/nonce", self.server))
                .send()
                .await?,
        )
        .await?
        .json()
        .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let issued_at =
            SiweTime::from_unix_millis(now).map_err(|e| NodeError::Siwe(e.to_string()))?;
        let message = SiweMessage::builder(
            challenge.domain,
            signer.address(),
            challenge.uri,
            challenge.chain_id,
            challenge.nonce,
            issued_at,
        )
        .statement(challenge.statement)
        .build()
        .map_err(|e| NodeError::Siwe(e.to_string()))?
        .to_string();
        let signature = signer
            .sign_message(message.as_bytes())
            .await
            .map_err(|e| NodeError::Siwe(e.to_string()))?;
        let response = checked(
            self.client
                .post(format!("{}/api/v1/auth/siwe/login", self.server))
                .json(&serde_json::json!({
                    "message": message,
                    "signature": alloy::hex::encode_prefixed(signature.as_bytes()),
                }))
                .send()
                .await?,
        )
        .await?;
        let token = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|cookie| {
                let (name, rest) = cookie.split_once('=')?;
                (name.trim() == cookies::ACCESS)
                    .then(|| rest.split(';').next().unwrap_or_default().to_owned())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| NodeError::Siwe("the platform set no access token".into()))?;
        tracing::info!(wallet = %signer.address(), "signed in with the operator's wallet");
        Ok(token)
    }
}

/// The response when it succeeded; the platform's refusal otherwise.
pub(crate) async fn checked(response: reqwest::Response) -> Result<reqwest::Response, NodeError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    Err(NodeError::Refused {
        status: status.as_u16(),
        body: response.text().await.unwrap_or_default(),
    })
}

//! A typed facade over an EIP-1193 provider object (`provider.request(...)`),
//! the interface every extension wallet exposes.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::{hex, Address};
use js_sys::{Array, Function, Object, Promise, Reflect};
use meritree_core::eth::parse_signature_hex;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An EIP-1193 provider, as announced by EIP-6963 or found at `window.ethereum`.
#[derive(Clone)]
pub struct Eip1193Provider(JsValue);

/// A provider's refusal, by the EIP-1193 / JSON-RPC error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// 4001: the person declined in the wallet.
    UserRejected,
    /// 4100: the wallet has not authorised this site or account.
    Unauthorized,
    /// 4200: the wallet does not support the method.
    Unsupported(String),
    /// 4900 / 4901: the wallet is not connected to any chain, or not to this one.
    Disconnected,
    /// Any other error the wallet reported.
    Rpc { code: i64, message: String },
    /// The wallet answered with something the method cannot return.
    Malformed(String),
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::UserRejected => f.write_str("the request was declined in the wallet"),
            ProviderError::Unauthorized => f.write_str("the wallet has not connected this site"),
            ProviderError::Unsupported(method) => write!(f, "the wallet does not support {method}"),
            ProviderError::Disconnected => f.write_str("the wallet is not connected"),
            ProviderError::Rpc { code, message } => {
                write!(f, "the wallet refused ({code}): {message}")
            }
            ProviderError::Malformed(what) => {
                write!(f, "the wallet gave an unexpected answer: {what}")
            }
        }
    }
}

impl ProviderError {
    fn from_js(error: JsValue, method: &str) -> Self {
        let code = Reflect::get(&error, &"code".into())
            .ok()
            .and_then(|c| c.as_f64())
            .map(|c| c as i64);
        let message = Reflect::get(&error, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .or_else(|| error.as_string())
            .unwrap_or_else(|| "unknown error".into());
        match code {
            Some(4001) => ProviderError::UserRejected,
            Some(4100) => ProviderError::Unauthorized,
            Some(4200) | Some(-32601) => ProviderError::Unsupported(method.to_owned()),
            Some(4900) | Some(4901) => ProviderError::Disconnected,
            Some(code) => ProviderError::Rpc { code, message },
            None => ProviderError::Rpc { code: 0, message },
        }
    }
}

impl Eip1193Provider {
    /// Wraps an object that has a `request` function; `None` otherwise.
    pub fn new(object: JsValue) -> Option<Self> {
        Reflect::get(&object, &"request".into())
            .ok()
            .filter(|r| r.is_function())
            .map(|_| Self(object))
    }

    /// `provider.request({ method, params })`.
    pub async fn request(&self, method: &str, params: &Array) -> Result<JsValue, ProviderError> {
        let malformed = |what: &str| ProviderError::Malformed(format!("{method}: {what}"));
        let request: Function = Reflect::get(&self.0, &"request".into())
            .map_err(|_| malformed("no request function"))?
            .dyn_into()
            .map_err(|_| malformed("request is not a function"))?;
        let args = Object::new();
        let _ = Reflect::set(&args, &"method".into(), &method.into());
        let _ = Reflect::set(&args, &"params".into(), params);
        let answer = request
            .call1(&self.0, &args)
            .map_err(|e| ProviderError::from_js(e, method))?;
        JsFuture::from(Promise::resolve(&answer))
            .await
            .map_err(|e| ProviderError::from_js(e, method))
    }

    /// `eth_requestAccounts`: asks the person to connect; the wallet's accounts.
    pub async fn request_accounts(&self) -> Result<Vec<Address>, ProviderError> {
        let answer = self.request("eth_requestAccounts", &Array::new()).await?;
        let accounts: Array = answer
            .dyn_into()
            .map_err(|_| ProviderError::Malformed("eth_requestAccounts: not a list".into()))?;
        accounts
            .iter()
            .map(|a| {
                a.as_string()
                    .and_then(|a| Address::from_str(&a).ok())
                    .ok_or_else(|| {
                        ProviderError::Malformed("eth_requestAccounts: not an address".into())
                    })
            })
            .collect()
    }

    /// `eth_chainId`: the chain the wallet is on.
    pub async fn chain_id(&self) -> Result<u64, ProviderError> {
        let answer = self.request("eth_chainId", &Array::new()).await?;
        answer
            .as_string()
            .and_then(|id| u64::from_str_radix(id.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| ProviderError::Malformed("eth_chainId: not a hex number".into()))
    }

    /// `personal_sign` (EIP-191) of a UTF-8 message; the signature bytes.
    pub async fn personal_sign(
        &self,
        message: &str,
        account: &Address,
    ) -> Result<Vec<u8>, ProviderError> {
        let params = Array::of2(
            &hex::encode_prefixed(message.as_bytes()).into(),
            &account.to_string().into(),
        );
        signature(
            self.request("personal_sign", &params).await?,
            "personal_sign",
        )
    }

    /// `eth_signTypedData_v4` (EIP-712) of typed data given as its JSON
    /// document (`types`, `primaryType`, `domain`, `message`).
    pub async fn sign_typed_data_v4(
        &self,
        account: &Address,
        typed_data_json: &str,
    ) -> Result<Vec<u8>, ProviderError> {
        let params = Array::of2(&account.to_string().into(), &typed_data_json.into());
        signature(
            self.request("eth_signTypedData_v4", &params).await?,
            "eth_signTypedData_v4",
        )
    }
}

/// Signatures come back as hex; 65 bytes from a key, longer from a contract
/// wallet (EIP-1271), so only the encoding is checked here.
fn signature(answer: JsValue, method: &str) -> Result<Vec<u8>, ProviderError> {
    answer
        .as_string()
        .and_then(|s| parse_signature_hex(&s).ok())
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| ProviderError::Malformed(format!("{method}: not a hex signature")))
}

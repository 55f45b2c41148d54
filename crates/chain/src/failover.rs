//! Several JSON-RPC endpoints of one chain behind one client: requests go
//! to the endpoint in use; when it cannot be reached or answers with an
//! HTTP error, the next is tried, and whichever answers is used from then
//! on. An answer — a JSON-RPC error included — is never sent elsewhere, so
//! a transaction is not broadcast twice because one node refused it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::http::{reqwest, Http};
use alloy::transports::{RpcError, TransportError, TransportFut};
use tower::Service;

#[derive(Clone, Debug)]
pub struct Failover {
    endpoints: Arc<Vec<(String, Http<reqwest::Client>)>>,
    current: Arc<AtomicUsize>,
}

impl Failover {
    /// Over `urls`, in order of preference; at least one.
    pub fn new(urls: &[reqwest::Url]) -> Self {
        assert!(!urls.is_empty(), "a chain needs an RPC endpoint");
        // An endpoint that accepts a connection and never answers must not
        // stall settlement: it fails, and the next one is asked.
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a client with timeouts builds");
        Self {
            endpoints: Arc::new(
                urls.iter()
                    .map(|url| {
                        (
                            redacted(url),
                            Http::with_client(client.clone(), url.clone()),
                        )
                    })
                    .collect(),
            ),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Service<RequestPacket> for Failover {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let count = this.endpoints.len();
            let first = this.current.load(Ordering::Relaxed) % count;
            let mut failure = None;
            for offset in 0..count {
                let index = (first + offset) % count;
                let (name, endpoint) = &this.endpoints[index];
                match endpoint.clone().call(request.clone()).await {
                    Ok(response) => {
                        if index != first {
                            this.current.store(index, Ordering::Relaxed);
                            tracing::warn!(endpoint = %name, "chain RPC failed over");
                        }
                        return Ok(response);
                    }
                    // Unreachable, timed out, or an HTTP error status.
                    Err(RpcError::Transport(kind)) => {
                        tracing::warn!(endpoint = %name, error = %kind, "chain RPC endpoint failed");
                        failure = Some(RpcError::Transport(kind));
                    }
                    Err(other) => return Err(other),
                }
            }
            Err(failure.expect("at least one endpoint was tried"))
        })
    }
}

/// An endpoint for logs: its host, never a key in its path or query.
fn redacted(url: &reqwest::Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or("?"))
}

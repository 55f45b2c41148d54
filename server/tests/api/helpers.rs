use std::net::SocketAddr;

use meritree_core::accounts::{AccountView, SessionView};
use meritree_store::testing::TestDatabase;
use meritree_store::{Backend, DatabaseTarget};
use server::configuration::Settings;
use server::startup::Application;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The running app's platform, for driving it with a test's own clock.
    pub platform: meritree_platform::Platform,
    /// The embedded chain's RPC, when the app runs one (`with_embedded_chain`).
    pub chain_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    db: TestDatabase,
    data_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The app's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// Where this app serves the built client from (empty until a test writes to it).
    pub fn site_root(&self) -> std::path::PathBuf {
        self.data_dir.path().join("site")
    }

    pub fn db(&self) -> &TestDatabase {
        &self.db
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Stops the server the way SIGTERM would, and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with settings changed by `configure` first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::fresh(backend).await;
    let data_dir = tempfile::tempdir().expect("data dir");

    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.shutdown_grace_secs = 5;
    settings.storage.data_dir = data_dir.path().to_owned();
    settings.storage.database_url = match &db.target {
        DatabaseTarget::SqliteFile(path) => format!("sqlite:{}", path.display()),
        DatabaseTarget::Postgres(url) => url.clone(),
    }
    .into();
    settings.site.root = data_dir.path().join("site");
    // Tests that settle on chain ask for it (`with_embedded_chain`).
    settings.chain.embedded = false;
    configure(&mut settings);

    let app = Application::build(settings).await.expect("build app");
    let addr = app.local_addr();
    let platform = app.platform().clone();
    let chain_url = app.embedded_chain_url();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });

    TestApp {
        addr,
        client: reqwest::Client::new(),
        platform,
        chain_url,
        shutdown: Some(tx),
        server: Some(server),
        db,
        data_dir,
    }
}

/// A second instance on `first`'s PostgreSQL database (and the key sealing
/// its secrets, which instances on one database share), with settings
/// changed by `configure` first.
pub async fn spawn_beside(first: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let database = match &first.db().target {
        DatabaseTarget::Postgres(url) => url.clone(),
        other => panic!("instances share a PostgreSQL database, not {other:?}"),
    };
    let secrets_key = first.data_dir().join("secrets.key");
    spawn_app_with(Backend::Postgres, |s| {
        configure(s);
        s.storage.secrets_key_file = secrets_key;
        s.storage.database_url = database.into();
    })
    .await
}

/// The test Redis that `scripts/test` starts.
pub fn test_redis_url() -> String {
    std::env::var("MERITREE_TEST_REDIS_URL")
        .expect("MERITREE_TEST_REDIS_URL is not set: run the tests through scripts/test")
}

/// For `spawn_app_with`: a local anvil with the contracts deployed.
pub fn with_embedded_chain(settings: &mut Settings) {
    settings.chain.embedded = true;
    settings.chain.anvil_bin = meritree_chain::anvil::binary_for_tests(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    );
    settings.chain.tick_secs = 1;
}

/// Asserts the JSON error shape and returns the code.
pub async fn error_code(response: reqwest::Response) -> String {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned()
}

/// A browser-like session: keeps the session cookies the server sets and
/// sends them back with a same-origin `Origin` header.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub access: Option<String>,
    pub refresh: Option<String>,
}

impl Session {
    /// Takes the cookies a response sets (an empty value deletes).
    pub fn absorb(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let value = (!value.is_empty()).then(|| value.to_owned());
            match name {
                "mt_access" => self.access = value,
                "mt_refresh" => self.refresh = value,
                _ => {}
            }
        }
    }

    pub fn cookie_header(&self) -> String {
        let mut cookies = Vec::new();
        if let Some(a) = &self.access {
            cookies.push(format!("mt_access={a}"));
        }
        if let Some(r) = &self.refresh {
            cookies.push(format!("mt_refresh={r}"));
        }
        cookies.join("; ")
    }
}

impl TestApp {
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A request as our own pages would send it: same-origin, with cookies.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &Session,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("origin", self.origin());
        let cookies = session.cookie_header();
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        request
    }

    pub async fn post_json(
        &self,
        path: &str,
        session: &mut Session,
        body: serde_json::Value,
    ) -> reqwest::Response {
        let response = self
            .request(reqwest::Method::POST, path, session)
            .json(&body)
            .send()
            .await
            .expect("request");
        session.absorb(&response);
        response
    }

    /// Creates an API key for the signed-in account (the only time its
    /// secret is shown).
    pub async fn create_api_key(
        &self,
        session: &Session,
        name: &str,
    ) -> meritree_core::accounts::CreatedApiKey {
        let response = self
            .request(reqwest::Method::POST, "/api/v1/user/api-keys", session)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
        response.json().await.expect("a created key")
    }

    /// `GET path` as the session; the JSON body of a 200.
    pub async fn get_json(&self, path: &str, session: &Session) -> serde_json::Value {
        let response = self
            .request(reqwest::Method::GET, path, session)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// Registers `email` with a good password; returns the signed-in session.
    pub async fn register(&self, email: &str) -> Session {
        let mut session = Session::default();
        let response = self
            .post_json(
                "/api/v1/auth/register",
                &mut session,
                serde_json::json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        session
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A wallet for tests: a secp256k1 key that signs like `personal_sign`.
pub struct TestWallet {
    key: k256::ecdsa::SigningKey,
    pub address: meritree_core::eth::Address,
}

impl TestWallet {
    /// Anvil's well-known development accounts, 0-based.
    pub fn anvil(index: usize) -> Self {
        const KEYS: [&str; 3] = [
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
            "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
            "5de4111afa1a4b94908f83e4e1f78271bf8c81d38c2a4a1ed1f8b9f6a8a4f2d6",
        ];
        let bytes: Vec<u8> = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&KEYS[index][i..i + 2], 16).unwrap())
            .collect();
        let key = k256::ecdsa::SigningKey::from_slice(&bytes).unwrap();
        let address = meritree_core::eth::Address::from_private_key(&key);
        Self { key, address }
    }

    /// Signs a 32-byte digest (an EIP-712 hash), 0x-hex.
    pub fn sign_digest(&self, digest: meritree_core::eth::B256) -> String {
        let (signature, recid) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .unwrap();
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(27 + recid.to_byte());
        format!(
            "0x{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    pub fn sign(&self, message: &str) -> String {
        let hash = meritree_core::eth::personal_sign_hash(message.as_bytes());
        let (signature, recid) = self.key.sign_prehash_recoverable(hash.as_slice()).unwrap();
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(27 + recid.to_byte());
        format!(
            "0x{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }
}

/// The server's SIWE challenge fields.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Challenge {
    pub nonce: String,
    pub domain: String,
    pub uri: String,
    pub chain_id: u64,
    pub statement: String,
}

impl TestApp {
    pub async fn challenge(&self) -> Challenge {
        siwe_challenge(&self.client, &self.origin()).await
    }

    /// A SIWE message as a wallet library would write it for `challenge`.
    pub fn siwe_message(&self, wallet: &TestWallet, challenge: &Challenge) -> String {
        siwe_message(wallet, challenge)
    }

    /// Signs in with `wallet` through a fresh challenge.
    pub async fn wallet_sign_in(&self, wallet: &TestWallet) -> (reqwest::Response, Session) {
        wallet_sign_in_at(&self.client, &self.origin(), wallet).await
    }
}

/// The SIWE challenge of the server at `origin` (also its base URL).
pub async fn siwe_challenge(client: &reqwest::Client, origin: &str) -> Challenge {
    let response = client
        .post(format!("{origin}/api/v1/auth/siwe/nonce"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A SIWE message as a wallet library would write it for `challenge`.
pub fn siwe_message(wallet: &TestWallet, challenge: &Challenge) -> String {
    let now = time::OffsetDateTime::now_utc();
    meritree_core::siwe::SiweMessage::builder(
        challenge.domain.clone(),
        wallet.address,
        challenge.uri.clone(),
        challenge.chain_id,
        challenge.nonce.clone(),
        meritree_core::siwe::SiweTime::from_datetime(now).unwrap(),
    )
    .statement(challenge.statement.clone())
    .build()
    .unwrap()
    .to_string()
}

/// Signs in with `wallet` at the server at `origin` (an in-process app or
/// the real binary).
pub async fn wallet_sign_in_at(
    client: &reqwest::Client,
    origin: &str,
    wallet: &TestWallet,
) -> (reqwest::Response, Session) {
    let challenge = siwe_challenge(client, origin).await;
    let message = siwe_message(wallet, &challenge);
    let mut session = Session::default();
    let response = client
        .post(format!("{origin}/api/v1/auth/siwe/login"))
        .header("origin", origin)
        .json(&serde_json::json!({ "message": message, "signature": wallet.sign(&message) }))
        .send()
        .await
        .expect("request");
    session.absorb(&response);
    (response, session)
}

/// An admin's signed-in session. Admin work needs a session (API keys
/// never carry the admin role); a member promoted in the database signs in
/// again to get a session with the new role.
pub async fn admin_session(app: &TestApp) -> Session {
    app.register("root@example.org").await;
    let db =
        meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default())
            .await
            .unwrap();
    assert!(
        meritree_store::accounts::set_role_by_email(&db, "root@example.org", "admin", 0)
            .await
            .unwrap()
    );
    db.close().await;
    app.sign_in("root@example.org").await
}

impl TestApp {
    /// Signs in with email and the tests' password; the new session.
    pub async fn sign_in(&self, email: &str) -> Session {
        let mut session = Session::default();
        let response = self
            .post_json(
                "/api/v1/auth/login",
                &mut session,
                serde_json::json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        session
    }
}

/// The current code of a base32 TOTP secret, as an authenticator app shows it.
pub fn totp_code(secret_base32: &str, at_unix: u64) -> String {
    let mut bytes = Vec::new();
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for c in secret_base32.chars() {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).expect("base32") as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    let value = meritree_core::totp::hotp(&bytes, meritree_core::totp::step(at_unix));
    meritree_core::totp::format_code(value)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Makes the session's last proof of identity an hour old.
pub async fn age_proof(app: &TestApp, session: &Session) {
    let me: AccountView =
        serde_json::from_value(app.get_json("/api/v1/user/me", session).await).unwrap();
    let sessions: Vec<SessionView> =
        serde_json::from_value(app.get_json("/api/v1/user/sessions", session).await).unwrap();
    let current = sessions.iter().find(|s| s.current).expect("this session");
    let db =
        meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default())
            .await
            .unwrap();
    let an_hour_ago = unix_now() as i64 - 3600;
    meritree_store::session_proofs::record(&db, &current.id, &me.id, an_hour_ago)
        .await
        .unwrap();
    db.close().await;
}

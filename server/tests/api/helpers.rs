use std::net::SocketAddr;

use meritree_store::testing::TestDatabase;
use meritree_store::{Backend, DatabaseTarget};
use server::configuration::Settings;
use server::startup::Application;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    db: TestDatabase,
    data_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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
    let db = TestDatabase::fresh(backend).await;
    let data_dir = tempfile::tempdir().expect("data dir");

    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.shutdown_grace_secs = 5;
    settings.storage.data_dir = data_dir.path().to_owned();
    settings.storage.database_url = match &db.target {
        DatabaseTarget::SqliteFile(path) => format!("sqlite:{}", path.display()),
        DatabaseTarget::Postgres(url) => url.clone(),
    };
    settings.site.root = data_dir.path().join("site");

    let app = Application::build(settings).await.expect("build app");
    let addr = app.local_addr();
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
        shutdown: Some(tx),
        server: Some(server),
        db,
        data_dir,
    }
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

use meritree_store::{test_both_backends, Backend};

use crate::helpers::spawn_app;

async fn html(app: &crate::helpers::TestApp, path: &str) -> (u16, String) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{path}: {content_type}"
    );
    (status, response.text().await.unwrap())
}

test_both_backends! {
    async fn status_page_is_rendered_on_the_server(backend: Backend) {
        let app = spawn_app(backend).await;
        let (status, body) = html(&app, "/status").await;
        assert_eq!(status, 200);
        // The report itself is in the HTML, not filled in later by the client.
        assert!(body.contains("<title>Status · Meritree</title>"), "{body}");
        assert!(body.contains(env!("CARGO_PKG_VERSION")));
        assert!(body.contains(r#"data-component="Database""#), "{body}");
        assert!(body.contains(backend.name()));
        assert!(body.contains("health-up"));
        assert!(body.contains(r#"data-testid="checked-at""#));
        // The report is finished, so its button is ready, never "Checking…".
        assert!(body.contains(r#"<button type="button" data-testid="recheck">Check again</button>"#), "{body}");
        // The page loads the client that hydrates it.
        assert!(body.contains("/pkg/meritree.js"), "{body}");
        assert!(body.contains("/pkg/meritree_bg.wasm"), "{body}");
        app.stop().await;
    }

    async fn landing_page_links_to_status(backend: Backend) {
        let app = spawn_app(backend).await;
        let (status, body) = html(&app, "/").await;
        assert_eq!(status, 200);
        assert!(body.contains(r#"href="/status""#), "{body}");
        app.stop().await;
    }

    async fn unknown_pages_are_html_404s(backend: Backend) {
        let app = spawn_app(backend).await;
        let (status, body) = html(&app, "/no/such/page").await;
        assert_eq!(status, 404);
        assert!(body.contains("Not found"));
        app.stop().await;
    }

    async fn the_status_server_function_answers_freshly(backend: Backend) {
        let app = spawn_app(backend).await;
        let call = || async {
            let response = app
                .client
                .post(app.url("/api/status/check"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<meritree_core::status::StatusReport>().await.unwrap()
        };
        let first = call().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = call().await;
        assert!(second.checked_at_unix_ms > first.checked_at_unix_ms);
        assert_eq!(first.instance_id, second.instance_id);
        app.stop().await;
    }
}

/// The client bundle is served precompressed when the browser accepts it,
/// and revalidated when its file names carry no content hash.
#[tokio::test]
async fn the_client_bundle_is_served_precompressed() {
    let app = spawn_app(Backend::Sqlite).await;
    let pkg = app.site_root().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("meritree.js"), "export default 1;").unwrap();
    std::fs::write(pkg.join("meritree.js.br"), b"brotli bytes").unwrap();

    let plain = app.get("/pkg/meritree.js").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    assert!(plain.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert_eq!(plain.text().await.unwrap(), "export default 1;");

    let compressed = app
        .client
        .get(app.url("/pkg/meritree.js"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.headers()["content-encoding"], "br");
    assert_eq!(compressed.bytes().await.unwrap().as_ref(), b"brotli bytes");

    assert_eq!(app.get("/pkg/missing.js").await.status(), 404);
    app.stop().await;
}

const BUNDLE: &str = "00c0ffee12345678";

/// What `scripts/build` makes: files named after their content hash, the
/// hash in `pkg/bundle`, and the site's public files.
fn built_site(root: &std::path::Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("bundle"), format!("{BUNDLE}\n")).unwrap();
    std::fs::write(
        pkg.join(format!("meritree.{BUNDLE}.js")),
        "export default 1;",
    )
    .unwrap();
    let public = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../public");
    for file in ["sw.js", "pwa.js", "manifest.webmanifest", "offline.html"] {
        std::fs::copy(public.join(file), root.join(file)).unwrap();
    }
}

/// A release's files are named after their content and kept for good; the
/// pages name that release's files, link the manifest and register the
/// service worker, which is always revalidated and may fetch only from
/// this site.
#[tokio::test]
async fn a_built_release_is_cached_for_good_and_installs_as_an_app() {
    let app =
        crate::helpers::spawn_app_with(Backend::Sqlite, |settings| built_site(&settings.site.root))
            .await;
    let (status, body) = html(&app, "/sign-in").await;
    assert_eq!(status, 200);
    for name in [
        format!("/pkg/meritree.{BUNDLE}.js"),
        format!("/pkg/meritree.{BUNDLE}_bg.wasm"),
        format!("/pkg/meritree.{BUNDLE}.css"),
    ] {
        assert!(body.contains(&name), "{name} in {body}");
    }
    assert!(
        body.contains(r#"<link rel="manifest" href="/manifest.webmanifest""#),
        "{body}"
    );
    assert!(body.contains(r#"src="/pwa.js""#), "{body}");

    let script = app.get(&format!("/pkg/meritree.{BUNDLE}.js")).await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // A name this instance lacks may exist on another instance of a rolling
    // release: its miss is not kept.
    let missing = app.get("/pkg/meritree.ffffffffffffffff.js").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["cache-control"], "no-cache");

    let worker = app.get("/sw.js").await;
    assert_eq!(worker.status(), 200);
    assert_eq!(worker.headers()["cache-control"], "no-cache");
    assert_eq!(
        worker.headers()["content-security-policy"],
        app::csp::SERVICE_WORKER
    );
    assert!(worker.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));

    let manifest = app.get("/manifest.webmanifest").await;
    assert_eq!(manifest.status(), 200);
    assert!(manifest.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("manifest+json"));
    let manifest: serde_json::Value = manifest.json().await.unwrap();
    assert_eq!(manifest["display"], "standalone");

    let (status, body) = html(&app, "/offline.html").await;
    assert_eq!(status, 200);
    assert!(body.contains("You are offline"), "{body}");
    app.stop().await;
}

/// The public pages are taken over by the public client, a fraction of the
/// full one; every other page, and an address with no page, by the full
/// client. Both kinds share the release's stylesheet.
#[tokio::test]
async fn public_pages_load_the_public_client_and_the_others_the_full_one() {
    let app =
        crate::helpers::spawn_app_with(Backend::Sqlite, |settings| built_site(&settings.site.root))
            .await;
    let public = [
        format!("/pkg/meritree.{BUNDLE}.public.js"),
        format!("/pkg/meritree.{BUNDLE}.public_bg.wasm"),
    ];
    let full = [
        format!("/pkg/meritree.{BUNDLE}.js"),
        format!("/pkg/meritree.{BUNDLE}_bg.wasm"),
    ];
    let stylesheet = format!("/pkg/meritree.{BUNDLE}.css");
    let pages = [
        ("/", &public),
        ("/rounds", &public),
        ("/rounds/1", &public),
        ("/leaderboard", &public),
        ("/search?q=poem", &public),
        ("/u/nobody", &public),
        ("/s/00000000-0000-0000-0000-000000000000", &public),
        ("/sign-in", &full),
        ("/account", &full),
        ("/playground", &full),
        ("/status", &full),
        ("/no-such-page", &full),
    ];
    for (path, client) in pages {
        let (_, body) = html(&app, path).await;
        for name in client.iter().chain([&stylesheet]) {
            assert!(body.contains(name.as_str()), "{path} names {name}: {body}");
        }
        let other = if client == &public { &full } else { &public };
        for name in other {
            assert!(!body.contains(name.as_str()), "{path} names {name}");
        }
    }
    app.stop().await;
}

/// Browsers install an app whose manifest names square PNG icons of 192
/// and 512 pixels, for any use and maskable; the ones named must exist.
#[test]
fn the_manifest_names_icons_that_exist_at_their_sizes() {
    let public = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../public");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(public.join("manifest.webmanifest")).unwrap())
            .unwrap();
    for key in [
        "name",
        "short_name",
        "start_url",
        "scope",
        "theme_color",
        "background_color",
    ] {
        assert!(
            manifest[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}"
        );
    }
    let mut found = Vec::new();
    for icon in manifest["icons"].as_array().unwrap() {
        let src = icon["src"].as_str().unwrap().trim_start_matches('/');
        let png = std::fs::read(public.join(src)).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{src}");
        // IHDR: width and height, big-endian, at bytes 16..24.
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!(icon["sizes"], format!("{width}x{height}"), "{src}");
        found.push((width, icon["purpose"].as_str().unwrap().to_owned()));
    }
    for size in [192, 512] {
        for purpose in ["any", "maskable"] {
            assert!(
                found.contains(&(size, purpose.to_owned())),
                "{size} {purpose}"
            );
        }
    }
    for shortcut in manifest["shortcuts"].as_array().unwrap() {
        assert!(shortcut["url"].as_str().unwrap().starts_with('/'));
    }
}

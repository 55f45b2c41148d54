//! The image a submission may carry, over HTTP: uploaded, checked,
//! re-encoded without metadata, stored once per content (under the data
//! directory with SQLite, in the database with PostgreSQL), served by id,
//! and a copied picture found by its perceptual hash.

use std::io::Cursor;

use image::{DynamicImage, ImageBuffer, Rgb, RgbImage};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::{json, Value};

use crate::fake_judge::{judged_by, scores, start_judge};
use crate::helpers::{error_code, spawn_app_with, Session, TestApp};
use crate::work::{evaluated, member};

/// A picture with structure at every scale, so its likeness survives
/// scaling and re-encoding.
pub(crate) fn picture(width: u32, height: u32) -> RgbImage {
    ImageBuffer::from_fn(width, height, |x, y| {
        let (u, v) = (x * 64 / width, y * 48 / height);
        let checker = if (u / 8 + v / 8) % 2 == 0 { 200 } else { 40 };
        Rgb([checker, (u * 4) as u8, (v * 5) as u8])
    })
}

pub(crate) fn encode(picture: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(picture.clone())
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

/// A JPEG carrying an Exif segment with a location in it.
fn jpeg_with_location(picture: &RgbImage) -> Vec<u8> {
    let mut jpeg = encode(picture, image::ImageFormat::Jpeg);
    let payload = b"Exif\0\0GPS 51.5007N 0.1246W secret";
    let mut segment = vec![0xFF, 0xE1];
    segment.extend(((payload.len() + 2) as u16).to_be_bytes());
    segment.extend(payload);
    jpeg.splice(2..2, segment);
    jpeg
}

async fn upload(
    app: &TestApp,
    session: &Session,
    content_type: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/images", session)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn submit_with_image(
    app: &TestApp,
    session: &Session,
    title: &str,
    body: &str,
    image: &str,
) -> Value {
    let response = app
        .request(Method::POST, "/api/v1/submissions", session)
        .json(&json!({"title": title, "body": body, "idempotency_key": format!("k-{}", &image[..8]), "image": image}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

test_both_backends! {
    async fn an_upload_is_stored_once_without_its_metadata_and_served_by_content(backend: Backend) {
        let app = spawn_app_with(backend, |_| {}).await;
        let alice = member(&app, "alice@example.org", "alice").await;

        let original = jpeg_with_location(&picture(640, 480));
        assert!(original.windows(6).any(|w| w == b"51.500"));
        let response = upload(&app, &alice, "image/jpeg", original.clone()).await;
        assert_eq!(response.status(), 201);
        let stored: Value = response.json().await.unwrap();
        let id = stored["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 64);
        assert_eq!(stored["url"], format!("/images/{id}"));
        assert_eq!((stored["width"].as_u64(), stored["height"].as_u64()), (Some(640), Some(480)));
        assert_eq!(stored["format"], "jpeg");

        let served = app.get(&format!("/images/{id}")).await;
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["content-type"], "image/jpeg");
        assert_eq!(served.headers()["x-content-type-options"], "nosniff");
        assert!(served.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let file = served.bytes().await.unwrap();
        assert!(!file.windows(6).any(|w| w == b"51.500"), "the location is gone");
        assert!(!file.windows(4).any(|w| w == b"Exif"));
        let decoded = image::load_from_memory(&file).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (640, 480));
        assert_eq!(stored["bytes"].as_u64(), Some(file.len() as u64));

        // The same picture again is the same image.
        let again: Value = upload(&app, &alice, "image/jpeg", original).await.json().await.unwrap();
        assert_eq!(again["id"], id.as_str());

        // Where it lives: the data directory with SQLite, the database
        // (which every instance reads) with PostgreSQL.
        let on_disk = app.data_dir().join("images").join(&id[..2]).join(format!("{id}.jpeg"));
        assert_eq!(on_disk.is_file(), backend == Backend::Sqlite);

        assert_eq!(app.get(&format!("/images/{}", "0".repeat(64))).await.status(), 404);
        assert_eq!(app.get("/images/..%2F..%2Fetc%2Fpasswd").await.status(), 404);
    }

    async fn what_is_not_an_allowed_image_is_refused_with_a_clear_code(backend: Backend) {
        let app = spawn_app_with(backend, |_| {}).await;
        let alice = member(&app, "alice@example.org", "alice").await;
        let png = encode(&picture(32, 32), image::ImageFormat::Png);

        let cases = [
            ("image/png", b"not an image at all".to_vec(), 422, "invalid_image"),
            ("image/jpeg", png.clone(), 422, "invalid_image"),
            ("image/gif", b"GIF89a....".to_vec(), 422, "invalid_image"),
            ("image/svg+xml", b"<svg onload=alert(1)/>".to_vec(), 422, "invalid_image"),
            ("image/png", png[..png.len() / 2].to_vec(), 422, "invalid_image"),
            ("image/png", [png.clone(), vec![0u8; 5 * 1024 * 1024]].concat(), 413, "image_too_large"),
        ];
        for (content_type, bytes, status, code) in cases {
            let response = upload(&app, &alice, content_type, bytes).await;
            assert_eq!(response.status(), status, "{content_type}");
            assert_eq!(error_code(response).await, code, "{content_type}");
        }

        let anonymous = app.client.post(app.url("/api/v1/images"))
            .header("content-type", "image/png").body(png.clone()).send().await.unwrap();
        assert_eq!(error_code(anonymous).await, "unauthenticated");
        let plain = app.create_api_key(&alice, "plain").await;
        let refused = app.client.post(app.url("/api/v1/images")).bearer_auth(&plain.key)
            .header("content-type", "image/png").body(png.clone()).send().await.unwrap();
        assert_eq!(error_code(refused).await, "insufficient_scope");

        // A submission naming an image nobody uploaded, or no image id.
        let unknown = app.request(Method::POST, "/api/v1/submissions", &alice)
            .json(&json!({"title": "A title", "body": "A body", "idempotency_key": "k", "image": "ab".repeat(32)}))
            .send().await.unwrap();
        assert_eq!(error_code(unknown).await, "invalid_submission");
        let malformed = app.request(Method::POST, "/api/v1/submissions", &alice)
            .json(&json!({"title": "A title", "body": "A body", "idempotency_key": "k", "image": "../x"}))
            .send().await.unwrap();
        assert_eq!(error_code(malformed).await, "invalid_request");
    }

    async fn uploads_are_limited_per_account(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rate_limits.images_per_account_per_hour = 2).await;
        let alice = member(&app, "alice@example.org", "alice").await;
        for n in 0..2 {
            let png = encode(&picture(20 + n, 20), image::ImageFormat::Png);
            assert_eq!(upload(&app, &alice, "image/png", png).await.status(), 201);
        }
        let png = encode(&picture(30, 20), image::ImageFormat::Png);
        let refused = upload(&app, &alice, "image/png", png).await;
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(error_code(refused).await, "rate_limited");
    }

    async fn a_copied_picture_earns_nothing_and_unpublished_work_hides_its_image(backend: Backend) {
        let (url, _judge) = start_judge(scores(8, 8, 8)).await;
        let app = spawn_app_with(backend, |s| judged_by(s, &url)).await;
        let alice = member(&app, "alice@example.org", "alice").await;
        let bob = member(&app, "bob@example.org", "bob").await;

        let first: Value = upload(&app, &alice, "image/png", encode(&picture(800, 600), image::ImageFormat::Png)).await.json().await.unwrap();
        let work = submit_with_image(&app, &alice, "Checkerboard dusk", "A study of light in squares.", first["id"].as_str().unwrap()).await;
        let original = evaluated(&app, work["id"].as_str().unwrap()).await;
        assert_eq!(original["status"], "scored", "{original}");
        assert_eq!(original["image"], first["id"]);

        // Bob's copy: scaled down and saved as JPEG, so another file, with
        // other words.
        let copy: Value = upload(&app, &bob, "image/jpeg", encode(&picture(400, 300), image::ImageFormat::Jpeg)).await.json().await.unwrap();
        assert_ne!(copy["id"], first["id"]);
        let work = submit_with_image(&app, &bob, "Evening grid", "Squares of colour at sunset, my own work.", copy["id"].as_str().unwrap()).await;
        let id = work["id"].as_str().unwrap();
        let copied = evaluated(&app, id).await;
        assert_eq!(copied["status"], "duplicate", "{copied}");
        assert_eq!(copied["duplicate_of"], original["id"]);
        // Its author sees it all; the public sees neither its text nor its image.
        let mine = app.get_json(&format!("/api/v1/submissions/{id}"), &bob).await;
        assert_eq!(mine["image"], copy["id"]);
        let summary = mine["stages"][1]["summary"].as_str().unwrap();
        assert!(summary.starts_with("Its image is a copy of earlier work's"), "{summary}");
        let public: Value = app.get(&format!("/api/v1/submissions/{id}")).await.json().await.unwrap();
        assert_eq!(public["image"], Value::Null);
        assert_eq!(public["body_html"], "");
        assert_eq!(public["title"], "A copy of earlier work");

        // A different picture passes.
        let other: Value = upload(&app, &bob, "image/png", encode(&ImageBuffer::from_fn(300, 300, |x, y| Rgb([((x * y) % 256) as u8, (x % 256) as u8, 90])), image::ImageFormat::Png)).await.json().await.unwrap();
        let work = submit_with_image(&app, &bob, "Moire", "Interference of two patterns.", other["id"].as_str().unwrap()).await;
        assert_eq!(evaluated(&app, work["id"].as_str().unwrap()).await["status"], "scored");
    }
}

/// A multipart body with one file field, as a browser's `FormData` sends it.
fn multipart(content_type: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----meritree-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

test_both_backends! {
    async fn both_doors_take_an_upload_under_the_same_rules(backend: Backend) {
        let app = spawn_app_with(backend, |_| {}).await;
        let alice = member(&app, "alice@example.org", "alice").await;
        let png = encode(&picture(64, 64), image::ImageFormat::Png);
        let server_fn = |session: &Session, content_type: &str, file: &[u8]| {
            let (form_type, body) = multipart(content_type, file);
            app.request(Method::POST, "/api/earning/image", session)
                .header("content-type", form_type)
                .body(body)
                .send()
        };
        let code = |body: Value| body["code"].as_str().unwrap_or_default().to_owned();

        let stranger = server_fn(&Session::default(), "image/png", &png).await.unwrap();
        assert_eq!(stranger.status(), 401);
        assert_eq!(code(stranger.json().await.unwrap()), "unauthenticated");
        let plain = app.create_api_key(&alice, "plain").await;
        let (form_type, body) = multipart("image/png", &png);
        let keyed = app.client.post(app.url("/api/earning/image")).bearer_auth(&plain.key)
            .header("content-type", form_type).body(body).send().await.unwrap();
        assert_eq!(keyed.status(), 403);
        assert_eq!(code(keyed.json().await.unwrap()), "insufficient_scope");

        let refused = server_fn(&alice, "image/png", b"plain text").await.unwrap();
        assert_eq!(refused.status(), 422);
        assert_eq!(code(refused.json().await.unwrap()), "invalid_image");
        let oversized = [png.clone(), vec![0; 5 * 1024 * 1024]].concat();
        let refused = server_fn(&alice, "image/png", &oversized).await.unwrap();
        assert_eq!(refused.status(), 413);
        assert_eq!(code(refused.json().await.unwrap()), "image_too_large");

        // The same picture through either door is the same image.
        let by_fn: Value = server_fn(&alice, "image/png", &png).await.unwrap().json().await.unwrap();
        let by_api: Value = upload(&app, &alice, "image/png", png).await.json().await.unwrap();
        assert_eq!(by_fn["id"], by_api["id"]);
        assert_eq!(by_fn["width"], 64);
    }
}

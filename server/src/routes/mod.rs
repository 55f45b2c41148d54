//! The HTTP surface: probes, the JSON API, and the server-rendered app.

mod api;
mod headers;
mod health;
mod images;
pub mod metrics;
mod openai;
mod openapi;

use std::path::Path;

use axum::extract::FromRef;
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::{middleware, Router};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use meritree_platform::access::Site;
use meritree_platform::Platform;

use crate::auth::csrf;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;
use tower_http::trace::TraceLayer;

/// What every handler can extract.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub platform: Platform,
    pub leptos_options: LeptosOptions,
    pub site: Site,
    pub web_client: crate::web_client::WebClient,
    pub metrics_token: metrics::MetricsToken,
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let public_pages = PublicPages::new();
    let platform = state.platform.clone();
    let shell_options = state.leptos_options.clone();
    let options = &state.leptos_options;
    let pkg_dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let (api, api_document) = api::router();
    let (openai, openai_document) = openai::router();
    let document = openapi::ApiDocument::new(api_document, openai_document);
    let reference = document.reference();
    let api = crate::error::json_fallbacks(api.route(
        "/openapi.json",
        axum::routing::get(move || std::future::ready(document.clone())),
    ));

    Router::new()
        .merge(health::router())
        .merge(images::router())
        .merge(metrics::router())
        .nest("/api/v1", api)
        .nest("/v1", openai)
        .nest_service(
            &format!("/{}", options.site_pkg_dir),
            client_bundle(&pkg_dir, state.web_client.hashed),
        )
        // Pages, and server functions with the platform in their context.
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                leptos::prelude::provide_context(platform.clone());
                leptos::prelude::provide_context(reference.clone());
            },
            move || app::html_document(shell_options.clone(), public_pages.client()),
        )
        // Files of the built client, else the app's 404 page.
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn_with_state(
            state.site.clone(),
            csrf::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.site.clone(),
            headers::set,
        ))
        // Named, not left to axum's default: the same number is in the
        // error a larger body gets. An image upload sets its own.
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::error::JSON_BODY_LIMIT_BYTES,
        ))
        // Outermost of the layers that run after routing: it sees the
        // matched route, and counts what the CSRF guard turns away too.
        .layer(middleware::from_fn_with_state(
            state.platform.clone(),
            metrics::track,
        ))
        .with_state(state)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The routes of the pages the public client hydrates, in axum's syntax:
/// read from the app's own route table, so the server never sends a page
/// to a client that has no route for it.
#[derive(Clone)]
struct PublicPages(std::sync::Arc<std::collections::HashSet<String>>);

impl PublicPages {
    fn new() -> Self {
        let routes = generate_route_list(app::PublicApp);
        Self(std::sync::Arc::new(
            routes.iter().map(|route| route.path().to_owned()).collect(),
        ))
    }

    /// Which client takes over the page being rendered, by the route axum
    /// matched for it.
    fn client(&self) -> app::Client {
        let public = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| {
                let route = parts.extensions.get::<axum::extract::MatchedPath>()?;
                Some(self.0.contains(route.as_str()))
            })
            .unwrap_or(false);
        if public {
            app::Client::Public
        } else {
            app::Client::Full
        }
    }
}

/// One span per request, carrying its id, so every log line of a request
/// (services log inside it) can be found by the `x-request-id` the client
/// got back.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The wasm client, its JS glue and CSS. Release builds ship `.br` and `.gz`
/// siblings, served to browsers that accept them. Names with a content
/// hash are kept for good; plain names are revalidated (Last-Modified), as
/// is a miss: on another instance of a rolling release that name may exist.
fn client_bundle(
    dir: &Path,
    hashed: bool,
) -> impl Clone
       + Send
       + Sync
       + 'static
       + tower::Service<
    axum::http::Request<axum::body::Body>,
    Response = axum::http::Response<
        impl axum::body::HttpBody<Data = axum::body::Bytes, Error = impl Into<axum::BoxError>>
            + Send
            + 'static,
    >,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> {
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    SetResponseHeader::overriding(
        files,
        CACHE_CONTROL,
        move |response: &axum::http::Response<_>| {
            let found = response.status().is_success()
                || response.status() == axum::http::StatusCode::NOT_MODIFIED;
            let keep = hashed && found;
            Some(HeaderValue::from_static(if keep {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }))
        },
    )
}

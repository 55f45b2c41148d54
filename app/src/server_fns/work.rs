//! Submitted work for the pages: the same services as `/api/v1/submissions`,
//! `/api/v1/rounds/{n}/…`, `/api/v1/members/…` and `/api/v1/search`.

use leptos::prelude::*;
use meritree_core::submissions::{
    CompetitionView, EarnerView, EntryView, ProfileView, SearchResults, SubmissionView,
};

use super::error::AppError;

/// `POST /api/earning/submit`: submits work into the open round (a session).
#[server(endpoint = "earning/submit")]
pub async fn submit_work(
    title: String,
    body: String,
    idempotency_key: String,
    /// An image uploaded before (`POST /api/v1/images`), by id.
    #[server(default)]
    image: Option<String>,
) -> Result<SubmissionView, AppError> {
    use meritree_core::submissions::NewSubmission;
    use meritree_platform::access::{ApiScope, AuthCheck};
    let (platform, me) = super::door::authorize(AuthCheck::scope(ApiScope::Submit)).await?;
    let request = super::door::request(&platform);
    let work = NewSubmission {
        title,
        body,
        idempotency_key,
        image,
    };
    Ok(platform
        .submissions()
        .submit(&me, &request, work)
        .await?
        .submission)
}

/// `POST /api/earning/image`: an image for a later submission, as multipart
/// form data whose first field is the file (the same service as
/// `POST /api/v1/images`).
#[server(endpoint = "earning/image", input = leptos::server_fn::codec::MultipartFormData)]
pub async fn upload_image(
    data: leptos::server_fn::codec::MultipartData,
) -> Result<meritree_core::submissions::image::ImageView, AppError> {
    use meritree_core::submissions::image::{ImageError, MAX_BYTES};
    use meritree_core::ErrorCode;
    use meritree_platform::access::{ApiScope, AuthCheck};
    let (platform, me) = super::door::authorize(AuthCheck::scope(ApiScope::Submit)).await?;
    let unreadable = |e: &dyn std::fmt::Display| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("the upload did not arrive whole: {e}"),
        )
    };
    let mut form = data
        .into_inner()
        .ok_or_else(|| unreadable(&"no form data"))?;
    let mut field = form
        .next_field()
        .await
        .map_err(|e| unreadable(&e))?
        .ok_or_else(|| unreadable(&"no file in the form"))?;
    let content_type = field
        .content_type()
        .map(|mime| mime.to_string())
        .unwrap_or_default();
    // Read no more than an image may be, whatever the body's length.
    let mut upload = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e))? {
        if upload.len() + chunk.len() > MAX_BYTES {
            return Err(AppError::new(
                ErrorCode::ImageTooLarge,
                ImageError::TooLarge.to_string(),
            ));
        }
        upload.extend_from_slice(&chunk);
    }
    Ok(platform
        .submissions()
        .upload_image(&me, &content_type, upload)
        .await?)
}

/// `POST /api/earning/submission`: a work, its stages and its reward.
#[server(endpoint = "earning/submission")]
pub async fn submission(id: String) -> Result<SubmissionView, AppError> {
    let platform = super::door::platform()?;
    let viewer = platform
        .optional_caller(&super::door::request(&platform))
        .await;
    Ok(platform
        .submissions()
        .get_as(&id.into(), viewer.as_ref())
        .await?)
}

/// A round's competition and its leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoundBoard {
    pub competition: CompetitionView,
    pub leaderboard: Vec<EntryView>,
    /// The server's clock, which the page counts down from.
    pub now: i64,
}

/// `POST /api/earning/round`: round `number`'s theme, pool, entries and
/// leaderboard; the open round when `number` is `None`.
#[server(endpoint = "earning/round")]
pub async fn round_standing(number: Option<i64>) -> Result<Option<RoundBoard>, AppError> {
    let platform = super::door::platform()?;
    let competitions = platform.competitions();
    let number = match number {
        Some(n) => n,
        None => match competitions.current_round().await? {
            Some(n) => n,
            None => return Ok(None),
        },
    };
    Ok(Some(RoundBoard {
        competition: competitions.view(number).await?,
        leaderboard: competitions.leaderboard(number).await?,
        now: meritree_platform::clock::unix_secs(),
    }))
}

/// `POST /api/earning/earners`: members by points earned, all time.
#[server(endpoint = "earning/earners")]
pub async fn top_earners() -> Result<Vec<EarnerView>, AppError> {
    Ok(super::door::platform()?.submissions().top_earners().await?)
}

/// `POST /api/earning/member`: a member's public page.
#[server(endpoint = "earning/member")]
pub async fn member(handle: String) -> Result<ProfileView, AppError> {
    Ok(super::door::platform()?
        .submissions()
        .profile(&handle)
        .await?)
}

/// `POST /api/earning/search`: scored work matching `query`.
#[server(endpoint = "earning/search")]
pub async fn search(query: String, offset: u32) -> Result<SearchResults, AppError> {
    Ok(super::door::platform()?
        .submissions()
        .search(&query, offset)
        .await?)
}

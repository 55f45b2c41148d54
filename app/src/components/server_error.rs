use leptos::prelude::*;
use meritree_core::ErrorCode;

use crate::server_fns::error::AppError;

/// Shows a failed server call's message; a write the installed app kept on
/// the device while offline is shown as waiting, not as failed.
#[component]
pub fn ServerError<T: Send + Sync + 'static>(
    #[prop(into)] result: Signal<Option<Result<T, AppError>>>,
) -> impl IntoView {
    move || {
        result.with(|r| match r {
            Some(Err(err)) if err.code == ErrorCode::QueuedOffline => Some(
                view! {
                    <p class="queued" role="status" data-testid="queued-offline">
                        {err.message.clone()}
                    </p>
                }
                .into_any(),
            ),
            Some(Err(err)) => Some(
                view! {
                    <p class="error" role="alert" data-testid="server-error" data-code=err.code.as_str()>
                        {err.message.clone()}
                    </p>
                }
                .into_any(),
            ),
            _ => None,
        })
    }
}

use leptos::prelude::*;

use crate::server_fns::error::AppError;

/// Shows a failed server call's message.
#[component]
pub fn ServerError<T: Send + Sync + 'static>(
    #[prop(into)] result: Signal<Option<Result<T, AppError>>>,
) -> impl IntoView {
    move || {
        result.with(|r| match r {
            Some(Err(err)) => Some(view! {
                <p class="error" role="alert" data-testid="server-error" data-code=err.code.as_str()>
                    {err.message.clone()}
                </p>
            }),
            _ => None,
        })
    }
}

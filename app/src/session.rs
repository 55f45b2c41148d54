//! The signed-in account, shared by every page: loaded once per page view
//! (server-side during rendering, then handed to the client) and reloaded
//! after signing in or out.

use leptos::prelude::*;
use meritree_core::accounts::AccountView;

use leptos_router::hooks::use_navigate;

use crate::server_fns::auth::current_account;
use crate::server_fns::error::AppError;

#[derive(Clone, Copy)]
pub struct Session {
    pub account: Resource<Result<Option<AccountView>, AppError>>,
    version: RwSignal<u32>,
}

impl Session {
    /// Puts the session in context for the whole app.
    pub fn provide() {
        let version = RwSignal::new(0_u32);
        let account = Resource::new(move || version.get(), |_| current_account());
        provide_context(Session { account, version });
    }

    pub fn get() -> Self {
        expect_context()
    }

    /// Loads the account again (after a sign-in or sign-out).
    pub fn reload(&self) {
        self.version.update(|v| *v += 1);
    }
}

/// After a successful sign-in or sign-up: reload the session, go to /account.
pub fn signed_in_goes_to_account<T: Clone + Send + Sync + 'static>(
    result: impl Into<Signal<Option<Result<T, AppError>>>>,
) {
    let result = result.into();
    let session = Session::get();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(result.get(), Some(Ok(_))) {
            session.reload();
            navigate("/account", Default::default());
        }
    });
}

//! Live updates for the pages: the latest frame from `/api/v1/ws`, as a
//! signal pages react to (refetching what an event says has changed).
//!
//! The socket is browser code and lives in the `frontend` crate, which
//! installs it when the client starts ([`install`]); it reconnects by
//! itself and resumes from the last frame it saw. On the server there is
//! no socket and the signal never changes.

use std::sync::OnceLock;

use leptos::prelude::*;
use meritree_core::live::{Envelope, LiveEvent};

/// Opens the socket and hands every frame to `on_frame`.
pub trait LiveSocket: Send + Sync {
    fn open(&self, on_frame: Box<dyn Fn(Envelope)>);
    /// Opens it again, for the account now signed in (or nobody).
    fn reconnect(&self);
}

static SOCKET: OnceLock<&'static dyn LiveSocket> = OnceLock::new();

/// Called once by the browser client before hydration.
pub fn install(socket: &'static dyn LiveSocket) {
    let _ = SOCKET.set(socket);
}

/// The newest frame, shared by every page.
#[derive(Clone, Copy)]
pub struct Live {
    frame: ReadSignal<Option<Envelope>>,
}

impl Live {
    /// Provides the signal and, in the browser, opens the socket.
    pub fn provide() {
        let (frame, set_frame) = signal(None::<Envelope>);
        provide_context(Live { frame });
        Effect::new(move |_| {
            if let Some(socket) = SOCKET.get() {
                socket.open(Box::new(move |envelope| set_frame.set(Some(envelope))));
            }
        });
        // A socket hears its account's own events only: after a sign-in or
        // sign-out it opens again as whoever is signed in now.
        let session = crate::session::Session::get();
        Effect::new(move |previous: Option<Option<String>>| {
            let account = session
                .account
                .get()
                .and_then(Result::ok)
                .flatten()
                .map(|account| account.id.to_string());
            if let (Some(before), Some(socket)) = (&previous, SOCKET.get()) {
                if *before != account {
                    socket.reconnect();
                }
            }
            account
        });
    }

    pub fn get() -> Self {
        expect_context::<Live>()
    }

    /// The newest event, tracked: a closure reading it reruns on each frame.
    pub fn event(&self) -> Option<LiveEvent> {
        self.frame.with(|f| f.as_ref().map(|e| e.event.clone()))
    }

    /// A counter that moves whenever an event matching `wanted` arrives:
    /// a resource keyed on it refetches then.
    pub fn changes(self, wanted: impl Fn(&LiveEvent) -> bool + Send + Sync + 'static) -> Memo<u64> {
        let seen = StoredValue::new(0_u64);
        Memo::new(move |_| {
            if let Some(event) = self.event() {
                if wanted(&event) || matches!(event, LiveEvent::Resync) {
                    seen.update_value(|n| *n += 1);
                }
            }
            seen.get_value()
        })
    }
}

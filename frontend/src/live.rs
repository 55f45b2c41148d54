//! The live-event socket (`/api/v1/ws`) for `app::live`: opened on the
//! page's own origin (so the session cookie and the Origin check apply),
//! reopened a second after it closes, resuming from the last frame seen.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use meritree_core::live::Envelope;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

pub struct Socket;

type OnFrame = Rc<Box<dyn Fn(Envelope)>>;
/// The last frame's sequence number, to resume from.
type LastSeq = Rc<Cell<Option<u64>>>;

thread_local! {
    /// Which socket is the page's: a retry of an older one stops.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// The socket open now and what it feeds, for [`Socket::reconnect`].
    static CURRENT: RefCell<Option<(WebSocket, OnFrame, LastSeq)>> =
        const { RefCell::new(None) };
}

impl app::live::LiveSocket for Socket {
    fn open(&self, on_frame: Box<dyn Fn(Envelope)>) {
        connect(Rc::new(on_frame), Rc::new(Cell::new(None)), false);
    }

    /// Replaces the socket at once with one opened with the cookies the
    /// page has now (the server knows who a socket is for when it opens).
    /// Events sent to the account before it opened are not replayed to it,
    /// so once open it tells the page to resynchronise.
    fn reconnect(&self) {
        let Some((socket, on_frame, last_seq)) =
            CURRENT.with(|current| current.borrow_mut().take())
        else {
            return;
        };
        socket.set_onclose(None);
        let _ = socket.close();
        // A retry of the old socket already waiting on its timer is dropped.
        GENERATION.with(|generation| generation.set(generation.get() + 1));
        connect(on_frame, last_seq, true);
    }
}

/// The client release this page runs: the content hash in the name of the
/// script the server's page preloads (`/pkg/meritree.<hash>.js`, or the
/// public client's `/pkg/meritree.<hash>.public.js`); `None` for a client
/// built without one.
fn release(window: &web_sys::Window) -> Option<String> {
    let href = window
        .document()?
        .query_selector("link[rel=modulepreload]")
        .ok()??
        .get_attribute("href")?;
    let name = href.rsplit('/').next()?;
    let hash = name.strip_prefix("meritree.")?.strip_suffix(".js")?;
    let public_suffix = format!(".{}", app::PUBLIC_CLIENT_SUFFIX);
    let hash = hash.strip_suffix(public_suffix.as_str()).unwrap_or(hash);
    meritree_core::live::is_release(hash).then(|| hash.to_owned())
}

/// How long to wait before reconnecting.
const RECONNECT_MS: i32 = 1_000;

fn connect(on_frame: OnFrame, last_seq: LastSeq, resync_on_open: bool) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    let (Ok(protocol), Ok(host)) = (location.protocol(), location.host()) else {
        return;
    };
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    let query: Vec<String> = [
        last_seq.get().map(|seq| format!("since={seq}")),
        release(&window).map(|release| format!("release={release}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let Ok(socket) = WebSocket::new(&format!("{scheme}://{host}/api/v1/ws{query}")) else {
        return;
    };

    if resync_on_open {
        let frames = on_frame.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            frames(Envelope {
                seq: 0,
                event: meritree_core::live::LiveEvent::Resync,
            })
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();
    }

    let frames = on_frame.clone();
    let seen = last_seq.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        // A frame this build cannot read is skipped, not fatal.
        if let Ok(envelope) = serde_json::from_str::<Envelope>(&text) {
            seen.set(Some(envelope.seq));
            frames(envelope);
        }
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let (frames, seen) = (on_frame.clone(), last_seq.clone());
    let generation = GENERATION.with(Cell::get);
    let on_close = Closure::<dyn FnMut()>::new(move || {
        let (frames, seen) = (frames.clone(), seen.clone());
        let retry = Closure::<dyn FnMut()>::new(move || {
            if GENERATION.with(Cell::get) == generation {
                connect(frames.clone(), seen.clone(), false);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                retry.as_ref().unchecked_ref(),
                RECONNECT_MS,
            );
        }
        retry.forget();
    });
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
    CURRENT.with(|current| *current.borrow_mut() = Some((socket, on_frame, last_seq)));
}

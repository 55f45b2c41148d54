// Meritree's service worker (docs/decisions/0036). scripts/build writes the
// client bundle's content hash into BUNDLE (the files' names) and a hash of
// the bundle and every public file into RELEASE (the caches' names), so
// every release is a new worker, which the page offers as an update.
const BUNDLE = "__BUNDLE__";
const RELEASE = "__RELEASE__";
const SHELL = `meritree-shell-${RELEASE}`;
const PAGES = `meritree-pages-${RELEASE}`;
// Static, so it is right at any address: a page the client hydrated would
// be taken for the page at the address asked for.
const OFFLINE = "/offline.html";

// The app shell: the client bundle, the offline page, the landing page and
// what installs the app. Fetched without cookies, so nothing personal.
const PRECACHE = [
  "/",
  OFFLINE,
  `/pkg/meritree.${BUNDLE}.js`,
  `/pkg/meritree.${BUNDLE}_bg.wasm`,
  `/pkg/meritree.${BUNDLE}.public.js`,
  `/pkg/meritree.${BUNDLE}.public_bg.wasm`,
  `/pkg/meritree.${BUNDLE}.css`,
  "/pwa.js",
  "/manifest.webmanifest",
  "/favicon.svg",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/maskable-192.png",
  "/icons/maskable-512.png",
];

// Public pages, kept as last seen so they can be read offline.
const PUBLIC = [
  /^\/$/,
  /^\/rounds(\/\d+)?$/,
  /^\/leaderboard$/,
  /^\/s\/[^/]+$/,
  /^\/u\/[^/]+$/,
  /^\/search$/,
  /^\/status$/,
  /^\/network$/,
  /^\/docs\/api$/,
];

// Signing in or out (the pages' server functions and the JSON API) changes
// whose pages and writes these are: pages kept under the old identity are
// dropped, and so are writes still waiting, which must not be sent under
// another account's session.
const IDENTITY =
  /^\/api\/(auth\/(register|sign_in|sign_out)|(wallet|telegram)\/sign_in|sessions\/end_all|v1\/auth\/(register|login|logout|logout-all|siwe\/login|telegram\/login))$/;

// Writes that may wait for the connection, and what the page calls them.
// Sending one twice changes nothing more than sending it once: a
// submission carries its idempotency key; the others set a state (the
// notification kinds muted, notices read up to one).
const QUEUED = [
  { path: /^\/api\/earning\/submit$/, kind: "submission" },
  { path: /^\/api\/notifications\/set_preferences$/, kind: "preferences" },
  { path: /^\/api\/notifications\/read$/, kind: "read" },
];
const queuedKind = (pathname) => QUEUED.find((write) => write.path.test(pathname))?.kind;
const OUTBOX_SYNC = "meritree-outbox";

// A page the network has not answered in this long is served from the cache.
const NETWORK_PATIENCE_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then((cache) =>
        cache.addAll(PRECACHE.map((url) => new Request(url, { credentials: "omit" }))),
      ),
  );
});

self.addEventListener("activate", (event) => {
  // Pages name the bundle they were rendered with, so another release's
  // pages and files go together.
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("meritree-") && name !== SHELL && name !== PAGES)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

// The page's "Reload" on the update prompt; a page back online asks for
// the queued writes to be sent.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "skip-waiting") self.skipWaiting();
  if (event.data && event.data.type === "replay") event.waitUntil(replay());
});

// Background Sync, where the browser has it: the queue is sent once the
// connection is back, even with no page open.
self.addEventListener("sync", (event) => {
  if (event.tag === OUTBOX_SYNC) event.waitUntil(replay());
});

// A notice the server pushed (docs/decisions/0039): the notification as the
// centre lists it, decrypted by the browser, shown by the system.
self.addEventListener("push", (event) => {
  let notice = {};
  try {
    notice = event.data ? event.data.json() : {};
  } catch (_) {
    notice = { body: event.data ? event.data.text() : "" };
  }
  const link = sameSite(notice.link);
  event.waitUntil(
    self.registration.showNotification(typeof notice.title === "string" && notice.title ? notice.title : "Meritree", {
      body: typeof notice.body === "string" ? notice.body : "",
      // The same notice pushed twice replaces itself.
      tag: Number.isSafeInteger(notice.id) ? `meritree-${notice.id}` : undefined,
      icon: "/icons/icon-192.png",
      data: { link },
    }),
  );
});

// Opens what the notification is about, in a window already open if any.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(sameSite(event.notification.data && event.notification.data.link), self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => client.url === url);
      return open ? open.focus() : self.clients.openWindow(url);
    }),
  );
});

// A link of this site's, or the notification centre: a notification never
// opens another site.
function sameSite(link) {
  try {
    const url = new URL(link, self.location.origin);
    if (typeof link === "string" && url.origin === self.location.origin) return url.pathname + url.search;
  } catch (_) {
    // not a URL
  }
  return "/notifications";
}

// Another person signing in here must not get the last one's notices.
async function stopPushes() {
  const subscription = await self.registration.pushManager.getSubscription();
  if (subscription) await subscription.unsubscribe();
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // A form posted before the client took over the page is a navigation:
  // its answer is a page, not something to keep and replay.
  const queueable = request.method === "POST" && request.mode !== "navigate";
  if (queueable && queuedKind(url.pathname)) {
    event.respondWith(sendOrQueue(request));
    return;
  }
  if (request.method !== "GET") {
    if (IDENTITY.test(url.pathname)) {
      event.waitUntil(Promise.all([caches.delete(PAGES), dropOutbox(), stopPushes()]));
    }
    return;
  }
  if (url.pathname.startsWith("/pkg/") || url.pathname.startsWith("/icons/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate") {
    const isPublic = PUBLIC.some((pattern) => pattern.test(url.pathname));
    event.respondWith(isPublic ? networkThenCache(event) : networkOrOffline(request));
  }
});

// Content-hashed files never change: the cache answers, else the network.
async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const copy = response.clone();
    caches.open(SHELL).then((cache) => cache.put(request, copy));
  }
  return response;
}

// The network's page when it answers in time (and kept), else the page as
// last seen, else the offline page.
async function networkThenCache(event) {
  const request = event.request;
  const network = fetch(request).then((response) => {
    if (response.ok) event.waitUntil(keep(request, response.clone()));
    return response;
  });
  const patience = new Promise((resolve) => setTimeout(resolve, NETWORK_PATIENCE_MS));
  try {
    const first = await Promise.race([network, patience]);
    if (first) return first;
  } catch (_) {
    // Offline: fall through to what is kept.
  }
  // The installed app starts at "/?source=pwa": the landing page.
  const landing = new URL(request.url).pathname === "/" ? "/" : request;
  const kept = (await caches.match(request)) || (await caches.match(landing));
  if (kept) return kept;
  try {
    return await network;
  } catch (_) {
    return offlinePage();
  }
}

// A page rendered for a signed-in member (`private, no-store`) holds their
// account: it is not kept. What is kept instead, once, is the page as
// anyone sees it.
async function keep(request, response) {
  const cache = await caches.open(PAGES);
  if (!/no-store|private/.test(response.headers.get("cache-control") || "")) {
    await cache.put(request, response);
    return;
  }
  if (await cache.match(request)) return;
  const anonymous = await fetch(request.url, { credentials: "omit" }).catch(() => null);
  if (anonymous && anonymous.ok && !/no-store|private/.test(anonymous.headers.get("cache-control") || "")) {
    await cache.put(request, anonymous);
  }
}

async function networkOrOffline(request) {
  try {
    return await fetch(request);
  } catch (_) {
    return offlinePage();
  }
}

// Answered as a page of this site: the stored copy carries the policy of a
// file, under which its stylesheet would not load.
async function offlinePage() {
  const kept = await caches.match(OFFLINE);
  const body = kept ? await kept.blob() : "You are offline.";
  return new Response(body, {
    status: 503,
    headers: { "content-type": kept ? "text/html; charset=utf-8" : "text/plain; charset=utf-8" },
  });
}

// ---- Writes made offline (the outbox) ----

// Sends a queued kind of write; when the network cannot be reached, keeps
// it in IndexedDB and answers as the server would a failure, with the code
// `queued_offline`, so the page shows it as waiting.
async function sendOrQueue(request) {
  const copy = request.clone();
  try {
    return await fetch(request);
  } catch (_) {
    // Read before the transaction opens: it closes at the first wait.
    const body = await copy.text();
    await outbox("readwrite", (store) =>
      idb(
        store.add({
          url: copy.url,
          body,
          contentType: copy.headers.get("content-type") || "application/x-www-form-urlencoded",
          queuedAt: Date.now(),
        }),
      ),
    );
    if (self.registration.sync) self.registration.sync.register(OUTBOX_SYNC).catch(() => {});
    await tell({ type: "outbox-waiting", ...(await waiting()) });
    return new Response(
      JSON.stringify({
        code: "queued_offline",
        message: "You are offline. This is saved on this device and will be sent once you are back online.",
      }),
      { status: 503, headers: { "content-type": "application/json" } },
    );
  }
}

let replaying = null;

// Sends every queued write, oldest first, each once: one the server
// answered (accepted or refused) leaves the queue; one the network or the
// server could not take yet (offline, 5xx, 429) stays, with the ones after
// it, and the replay fails so that Background Sync tries again later.
function replay() {
  if (!replaying) {
    replaying = (async () => {
      for (const item of await outbox("readonly", (store) => idb(store.getAll()))) {
        const url = new URL(item.url);
        const kind = queuedKind(url.pathname);
        if (url.origin !== self.location.origin || !kind) {
          await outbox("readwrite", (store) => idb(store.delete(item.id)));
          continue;
        }
        let response;
        try {
          response = await fetch(url, {
            method: "POST",
            body: item.body,
            // The server function's JSON answer, never a redirect to a page.
            headers: { "content-type": item.contentType, accept: "application/json" },
            credentials: "same-origin",
          });
        } catch (_) {
          throw new Error("the outbox waits for the connection");
        }
        if (response.status >= 500 || response.status === 429) {
          throw new Error(`the outbox waits: the server answered ${response.status}`);
        }
        await outbox("readwrite", (store) => idb(store.delete(item.id)));
        await tell({
          type: "outbox-sent",
          kind,
          ok: response.ok,
          body: await response.text().catch(() => ""),
          ...(await waiting()),
        });
      }
    })().finally(() => {
      replaying = null;
    });
  }
  return replaying;
}

async function dropOutbox() {
  const dropped = (await waiting()).waiting;
  if (dropped === 0) return;
  await outbox("readwrite", (store) => idb(store.clear()));
  await tell({ type: "outbox-dropped", dropped, waiting: 0, kinds: {} });
}

async function tell(message) {
  for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage(message);
}

// How many writes are kept, in all and of each kind.
async function waiting() {
  const kinds = {};
  const items = await outbox("readonly", (store) => idb(store.getAll()));
  for (const item of items) {
    const kind = queuedKind(new URL(item.url).pathname) || "other";
    kinds[kind] = (kinds[kind] || 0) + 1;
  }
  return { waiting: items.length, kinds };
}

// An IndexedDB request's result, as a promise.
function idb(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// Runs `work` on the outbox's object store in one transaction; its result
// once the transaction has committed (a write is only "saved" then).
function outbox(mode, work) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("meritree-outbox", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("writes", { keyPath: "id", autoIncrement: true });
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction("writes", mode);
      let result;
      Promise.resolve(work(tx.objectStore("writes"))).then(
        (value) => {
          result = value;
        },
        (error) => {
          try {
            tx.abort();
          } catch (_) {
            // already finished
          }
          reject(error);
        },
      );
      tx.oncomplete = () => {
        db.close();
        resolve(result);
      };
      tx.onabort = () => {
        db.close();
        reject(tx.error);
      };
    };
  });
}

// Meritree's service worker (docs/decisions/0036). scripts/build writes the
// client bundle's content hash into BUNDLE, so every release is a new
// worker, which the page offers as an update.
const BUNDLE = "__BUNDLE__";
const SHELL = `meritree-shell-${BUNDLE}`;
const PAGES = `meritree-pages-${BUNDLE}`;
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

// Signing in or out changes what every page shows: pages kept under the
// old identity are dropped.
const IDENTITY = /^\/api\/(v1\/)?(auth|wallet)\//;

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

// The page's "Reload" on the update prompt.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method !== "GET") {
    if (IDENTITY.test(url.pathname)) event.waitUntil(caches.delete(PAGES));
    return;
  }
  if (url.pathname.startsWith("/pkg/") || url.pathname.startsWith("/icons/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate") {
    const isPublic = PUBLIC.some((pattern) => pattern.test(url.pathname));
    event.respondWith(isPublic ? networkThenCache(request) : networkOrOffline(request));
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
async function networkThenCache(request) {
  const network = fetch(request).then(async (response) => {
    if (response.ok) {
      const cache = await caches.open(PAGES);
      await cache.put(request, response.clone());
    }
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

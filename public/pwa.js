// Registers the service worker, offers a new release when one is ready, and
// reports the writes it keeps while offline (docs/decisions/0036). Plain
// JavaScript, so it works before, and without, the wasm client.
if ("serviceWorker" in navigator) {
  // What the worker says about writes made offline.
  navigator.serviceWorker.addEventListener("message", (event) => {
    const message = event.data || {};
    if (message.type === "outbox-waiting") {
      showOutbox(message.waiting, "outbox-waiting", `Saved on this device: ${waitingWords(message.kinds)} for the connection.`);
    } else if (message.type === "outbox-dropped") {
      showOutbox(
        0,
        "outbox-dropped",
        `${message.dropped === 1 ? "A change saved offline was" : `${message.dropped} changes saved offline were`} ` +
          "not sent: the account signed in on this device changed.",
      );
    } else if (message.type === "outbox-sent") {
      let answer = {};
      try {
        answer = JSON.parse(message.body);
      } catch (_) {
        // not JSON: reported without detail
      }
      const what = message.kind === "submission" ? "submission" : "change";
      if (message.ok && message.kind === "submission" && answer.id) {
        showOutbox(message.waiting, "outbox-sent", "Your submission saved offline was sent. ", `/s/${answer.id}`);
      } else if (message.ok) {
        showOutbox(message.waiting, "outbox-sent", `Your ${what} saved offline was sent.`);
      } else {
        showOutbox(
          message.waiting,
          "outbox-refused",
          `A ${what} saved offline was refused: ${answer.message || "unknown error"}`,
        );
      }
    }
  });
  navigator.serviceWorker.startMessages();
  // Back online, or a new page: send what waits.
  const replay = () => {
    if (navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage({ type: "replay" });
  };
  window.addEventListener("online", replay);
  navigator.serviceWorker.ready.then(replay);

  window.addEventListener("load", async () => {
    let registration;
    try {
      registration = await navigator.serviceWorker.register("/sw.js", { updateViaCache: "none" });
    } catch (error) {
      console.warn("service worker not registered", error);
      return;
    }
    // A worker that took over after "Reload" serves the new release.
    let reloading = false;
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (reloading) window.location.reload();
    });
    const offer = (worker) => {
      if (!navigator.serviceWorker.controller || document.getElementById("update-available")) return;
      const banner = document.createElement("div");
      banner.id = "update-available";
      banner.className = "update-available";
      banner.setAttribute("role", "status");
      banner.textContent = "A new version of Meritree is ready. ";
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Reload";
      button.addEventListener("click", () => {
        reloading = true;
        worker.postMessage({ type: "skip-waiting" });
      });
      banner.append(button);
      document.body.append(banner);
    };
    // A new worker waiting already, still installing, or found later.
    const watch = (worker) => {
      if (!worker) return;
      worker.addEventListener("statechange", () => {
        if (worker.state === "installed") offer(worker);
      });
    };
    if (registration.waiting) offer(registration.waiting);
    watch(registration.installing);
    registration.addEventListener("updatefound", () => watch(registration.installing));
  });
}

// `waiting`: how many writes are still kept.
function showOutbox(waiting, state, text, link) {
  let banner = document.getElementById("outbox");
  if (!banner) {
    banner = document.createElement("div");
    banner.id = "outbox";
    banner.className = "outbox";
    banner.setAttribute("role", "status");
    document.body.append(banner);
  }
  banner.dataset.state = state;
  banner.dataset.waiting = String(waiting);
  banner.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = link;
    a.textContent = "See it";
    banner.append(a);
  }
}

// Web Push on this device, for the notifications page (docs/decisions/0039).
// Each call answers a promise; the page sends the subscription to the server.
window.meritreePush = {
  // "unsupported", "blocked", "on" or "off".
  async state() {
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      return "unsupported";
    }
    if (Notification.permission === "denied") return "blocked";
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    return subscription && Notification.permission === "granted" ? "on" : "off";
  },
  // Asks for permission and subscribes with the server's key; the
  // subscription as JSON text.
  async subscribe(serverKey) {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      throw new Error("Notifications are not allowed for this site: allow them in the browser's site settings.");
    }
    const registration = await navigator.serviceWorker.ready;
    const key = base64UrlBytes(serverKey);
    const existing = await registration.pushManager.getSubscription();
    // One made with another server key cannot be reused.
    if (existing && !sameBytes(existing.options && existing.options.applicationServerKey, key)) {
      await existing.unsubscribe();
    }
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    return JSON.stringify(subscription.toJSON());
  },
  // Unsubscribes this browser; its endpoint, or null if it had none.
  async unsubscribe() {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    if (!subscription) return null;
    const endpoint = subscription.endpoint;
    await subscription.unsubscribe();
    return endpoint;
  },
};

function base64UrlBytes(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function sameBytes(buffer, bytes) {
  if (!buffer) return false;
  const other = new Uint8Array(buffer);
  return other.length === bytes.length && other.every((b, i) => b === bytes[i]);
}

// "1 submission waits", "2 submissions and 1 other change wait", "1 change waits".
function waitingWords(kinds = {}) {
  const submissions = kinds.submission || 0;
  const others = Object.values(kinds).reduce((sum, n) => sum + n, 0) - submissions;
  const parts = [];
  if (submissions) parts.push(submissions === 1 ? "1 submission" : `${submissions} submissions`);
  if (others) parts.push(`${others} ${submissions ? "other " : ""}${others === 1 ? "change" : "changes"}`);
  return `${parts.join(" and ")} ${submissions + others === 1 ? "waits" : "wait"}`;
}

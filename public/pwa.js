// Registers the service worker and offers a new release when one is ready
// (docs/decisions/0036). Plain JavaScript, so it works before, and without,
// the wasm client.
if ("serviceWorker" in navigator) {
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
    if (registration.waiting) offer(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      if (!worker) return;
      worker.addEventListener("statechange", () => {
        if (worker.state === "installed") offer(worker);
      });
    });
  });
}

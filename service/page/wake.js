"use strict";
// The wake page's poller (GET /wake serves the page; no inline script).  It
// asks previewd's /wake/status for the host the page is about (data-host,
// written by previewd) and goes to the environment once it is awake.
// Everything shown is set as text.

(function () {
  const main = document.querySelector("main.wake");
  // served as ingress-nginx's error page on the environment's own host,
  // /wake/status would go to the ingress too: the meta refresh does it there
  if (!main || location.pathname !== "/wake") return;
  const host = main.dataset.host || "";
  const state = document.getElementById("state");
  let tries = 0;

  async function look() {
    tries++;
    try {
      const r = await fetch("/wake/status?host=" + encodeURIComponent(host), { cache: "no-store" });
      const s = await r.json();
      if (r.ok && s && typeof s.state === "string") {
        main.dataset.state = s.state;
        if (s.state === "awake" && /^http:\/\//.test(s.url)) {
          state.textContent = s.name + " is awake: taking you there.";
          location.replace(s.url);
          return;
        }
        state.textContent = s.name + (s.state === "sleeping" ? " is asleep." : s.state === "waking"
          ? " is waking up: its awake values are on their way to Git." : " is starting: Argo CD is rolling it out.") +
          " (checked " + tries + (tries === 1 ? " time)" : " times)");
      } else if (s && s.detail) {
        state.textContent = String(s.detail);
        return;
      }
    } catch (e) { /* previewd away for a moment: look again */ }
    setTimeout(look, 2000);
  }
  if (main.dataset.state !== "awake") setTimeout(look, 1000);
})();

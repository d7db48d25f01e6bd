// Keeps a running workflow's page live: polls its status (same origin, the session's cookie)
// every two seconds and updates the figures and the stage rows in place. When the workflow's
// state or its open gate changes, the page is loaded again, so the gate form appears or goes
// away. It stops once the workflow has ended, or when the gateway refuses (signed out, gone).
(function () {
  "use strict";
  const root = document.querySelector("[data-status-url]");
  if (!root) return;
  const url = root.getAttribute("data-status-url");
  const shown = root.getAttribute("data-state") + "|" + root.getAttribute("data-gate");
  const dollars = (n) => "$" + Number(n || 0).toFixed(4);
  const set = (selector, text) => document.querySelectorAll(selector).forEach((el) => { el.textContent = text; });
  let timer = null;
  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        clearInterval(timer);
        return;
      }
      const status = await response.json();
      if ((status.state + "|" + (status.awaiting_approval || "")) !== shown) {
        window.location.reload();
        return;
      }
      set("[data-live=total_cost]", dollars(status.total_cost_usd));
      set("[data-live=total_tokens]", String(status.total_tokens));
      set("[data-live=current_stage]", status.current_stage || "-");
      for (const stage of status.stages) {
        const row = document.querySelector('tr[data-stage="' + CSS.escape(stage.name) + '"]');
        if (!row) continue;
        const tokens = stage.input_tokens + stage.output_tokens + stage.cache_read_tokens + stage.cache_write_tokens;
        row.querySelector("[data-live=state]").textContent = stage.state;
        row.querySelector("[data-live=state]").className = "state " + stage.state;
        row.querySelector("[data-live=attempts]").textContent = String(stage.attempts);
        row.querySelector("[data-live=tokens]").textContent = String(tokens);
        row.querySelector("[data-live=cost]").textContent = dollars(stage.cost_usd);
      }
    } catch (_) {
      // The gateway restarting or the network gone: the next poll tries again.
    }
  }
  timer = setInterval(poll, 2000);
})();

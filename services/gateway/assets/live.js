// Keeps a workflow's page live. While the workflow runs, polls its status (same origin, the
// session's cookie) every two seconds and updates the figures and the stage rows in place; when
// its state or its open gate changes, the page is loaded again, so the gate form appears or goes
// away. Polling stops once the workflow has ended, or when the gateway refuses (signed out,
// gone). The events list follows the workflow's event stream (server-sent events) to its end.
(function () {
  "use strict";
  const MAX_EVENTS_SHOWN = 500;

  function followEvents(list) {
    const source = new EventSource(list.getAttribute("data-events-url"));
    let first = true;
    const show = (message) => {
      if (first) {
        list.textContent = "";
        first = false;
      }
      const event = JSON.parse(message.data);
      const item = document.createElement("li");
      item.className = event.type.replace(/[^a-z_.]/g, "").replace(/\./g, "-");
      const time = document.createElement("time");
      time.textContent = event.time;
      item.append(time, " ", event.text);
      list.append(item);
      while (list.children.length > MAX_EVENTS_SHOWN) list.firstElementChild.remove();
    };
    // Every connection replays the stream from its start: a reconnection shows it afresh.
    source.onopen = () => {
      first = true;
    };
    source.onmessage = show;
    // After the workflow's last event the stream ends, and must not be opened again.
    source.addEventListener("end", () => {
      source.close();
      if (first) list.firstElementChild.textContent = "No events are kept for this workflow.";
    });
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return;
      const notice = document.createElement("li");
      notice.className = "quiet";
      notice.textContent = "The events cannot be shown now; reload the page to try again.";
      if (first) list.textContent = "";
      list.append(notice);
    };
  }

  function pollStatus(root) {
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
  }

  const root = document.querySelector("[data-status-url]");
  if (root && root.getAttribute("data-poll") === "true") pollStatus(root);
  const events = document.querySelector("[data-events-url]");
  if (events) followEvents(events);
})();

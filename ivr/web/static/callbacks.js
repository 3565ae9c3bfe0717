// The callback list: callers who hung up before a human heard them (emergencies first). "Telepon"
// rings my own phone, then the citizen; after it I record how it went. Withheld numbers are listed
// but cannot be dialled. Everything from callers is written as text (dom.el).
"use strict";

(function () {
  const { el, fill, $ } = window.dom;
  const i18n = window.i18n;
  const t = i18n.t;
  const REFRESH_MS = 15000;
  const RESULTS = ["reached", "no_answer", "busy", "wrong_number", "not_needed"];
  let entries = [];

  async function refresh() {
    try {
      const response = await fetch("/api/callbacks", { credentials: "same-origin" });
      if (response.ok) entries = (await response.json()).callbacks || [];
    } catch (_) { /* keep the last list; the console shows the connection state */ }
    render();
  }

  async function act(entry, path, body) {
    const data = await window.siagaConsole.post("/api/callbacks/" + encodeURIComponent(entry.uniqueid) + path, body);
    if (data) await refresh();
  }

  function item(entry) {
    const lastTry = entry.attempts.length ? entry.attempts[entry.attempts.length - 1] : null;
    return el("li", { class: ["callback", entry.emergency ? "emergency" : ""], "data-uniqueid": String(entry.uniqueid) },
      el("div", { class: "callback-head" },
        el("strong", { class: "callback-number" }, entry.callable ? entry.caller : t("callback.withheld")), " · ",
        new Date(entry.started_at).toLocaleTimeString(i18n.lang === "en" ? "en-GB" : "id-ID"), " · ",
        i18n.label("callback.why", entry.why)),
      el("div", { class: "callback-facts" },
        (entry.category_label || t("callback.no_category")) + " · " + t("callback.keys", { keys: entry.keys || "–" }) +
        " · " + t("callback.waited", { s: Math.round(Number(entry.waited_seconds) || 0) }) +
        (lastTry ? " · " + t("callback.last", { result: i18n.label("callback.result", lastTry.result) }) : "")),
      el("div", { class: "callback-actions" },
        entry.callable
          ? el("button", { type: "button", class: "btn btn-primary callback-call", on: { click: () => act(entry, "/call", {}) } },
            t("callback.call"))
          : null,
        RESULTS.map((result) => el("button", {
          type: "button", class: "btn callback-result", "data-result": result,
          on: { click: () => act(entry, "/result", { result }) },
        }, i18n.label("callback.result", result)))));
  }

  function render() {
    fill($("callback-list"), entries.length
      ? el("ul", { class: "callbacks-list" }, entries.map(item))
      : el("p", { class: "empty" }, t("callback.none")));
  }

  window.siagaCallbacks = Object.freeze({
    start() {
      refresh();
      setInterval(refresh, REFRESH_MS);
      i18n.onChange(render);
    },
    refresh,
  });
})();

// The call-taker's screen. The server is the truth: every WebSocket message carries the full current
// picture (state, queues, call), so this file only keeps the last picture, draws it, and sends the
// operator's actions as POSTs. Caller data is drawn with dom.el (text nodes), never as markup.
"use strict";

(function () {
  const { el, fill, $ } = window.dom;
  const i18n = window.i18n;
  const t = i18n.t;

  const JUNK = new Set(["prank", "silent", "misdial"]); // closed in one key: hang up, then record
  const KNOWN_STATES = new Set(["available", "ringing", "on_call", "wrap_up", "paused", "logged_out", "phone_offline"]);
  const DEFAULT_OUTCOMES = [
    { code: "genuine", key: "1" }, { code: "info", key: "2" }, { code: "prank", key: "3" },
    { code: "silent", key: "4" }, { code: "misdial", key: "5" },
  ];
  const NOTES = "siaga.notes.";
  const CHECKS = "siaga.checks.";
  const RING_KEY = "siaga.ring";
  const KEEP_MS = 2 * 24 * 3600 * 1000; // notes of older calls are dropped from this browser
  const BACKOFF_MAX_MS = 5000;

  const model = {
    me: null, csrf: "", state: null, queues: null, call: null, callAt: 0,
    connected: false, posting: false, notesFor: null, completing: false,
    phone: { reg: "none", cause: "", call: "idle", muted: false, held: false, consult: "none" },
  };
  let phone = null;
  const ringer = window.phoneKit.createRinger();

  // ---- storage: notes and checklist ticks survive a reload, keyed by the call's uniqueid ----
  function load(prefix, uid) {
    try {
      const raw = window.localStorage.getItem(prefix + uid);
      return raw ? JSON.parse(raw).v : null;
    } catch (_) { return null; }
  }
  function save(prefix, uid, value) {
    try { window.localStorage.setItem(prefix + uid, JSON.stringify({ v: value, at: Date.now() })); } catch (_) { /* full */ }
  }
  function prune() {
    try {
      const store = window.localStorage;
      for (let i = store.length - 1; i >= 0; i--) {
        const key = store.key(i);
        if (!key || !(key.startsWith(NOTES) || key.startsWith(CHECKS))) continue;
        let at = 0;
        try { at = JSON.parse(store.getItem(key)).at || 0; } catch (_) { /* unreadable: drop */ }
        if (Date.now() - at > KEEP_MS) store.removeItem(key);
      }
    } catch (_) { /* storage blocked */ }
  }

  // ---- server ----
  const api = window.siagaApi.createApi(() => model.csrf, (key, params) => t(key, params));
  const { post, fetchMe, showError, clearError, goLogin } = api;

  // ---- formatting ----
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  // The wall-clock time the server wrote (the center's own zone, WIB), not converted to this browser's
  // zone: a console on a machine set to UTC must still say 10.00 for a call at 10.00.
  function when(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(String(iso ?? ""));
    if (!m) return String(iso ?? "");
    const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]));
    return d.toLocaleString(i18n.lang === "id" ? "id-ID" : "en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
  }
  function outcomes() {
    const list = model.me && Array.isArray(model.me.outcomes) ? model.me.outcomes : DEFAULT_OUTCOMES;
    return list.map((o) => ({ code: String(o.code), key: String(o.key) }));
  }
  function waited() {
    const c = model.call;
    let secs = Number(c.waited_seconds) || 0;
    if (c.phase === "ringing") secs += (performance.now() - model.callAt) / 1000; // still waiting
    return t("call.seconds", { n: Math.floor(secs) });
  }
  function stateText() {
    const s = model.state;
    if (!s || !KNOWN_STATES.has(s.state)) return t("state.unknown");
    if (s.state === "paused") return t("state.paused", { reason: s.reason || "" });
    if (s.state === "wrap_up") {
      return t("state.wrap_up", { t: s.wrapup_until ? clock(s.wrapup_until - Date.now() / 1000) : "" }).trim();
    }
    return t("state." + s.state);
  }

  // ---- drawing ----
  function renderHeader() {
    const op = (model.me && model.me.operator) || {};
    $("op-name").textContent = op.name || op.id || "";
    $("op-agency").textContent = op.agency_label || op.agency || "";
    const reasons = (model.me && model.me.pause_reasons) || [];
    const current = model.state && model.state.state === "paused" ? model.state.reason : null;
    fill($("pause-buttons"), reasons.map((reason) => el("button", {
      type: "button", class: "btn btn-pause", "aria-pressed": String(reason === current),
      on: { click: () => setState({ action: "pause", reason }) },
    }, reason)));
  }

  function renderState() {
    const s = model.state;
    const badge = $("state-badge");
    badge.className = "badge state-" + (s && KNOWN_STATES.has(s.state) ? s.state : "unknown");
    badge.textContent = stateText();
    const busy = s && ["available", "ringing", "on_call"].includes(s.state);
    $("btn-available").disabled = Boolean(busy);
    $("btn-leave").disabled = Boolean(s && s.state === "logged_out");
    renderHeader();
    renderRinging();
  }

  function renderQueues() {
    const list = model.queues;
    if (!Array.isArray(list) || list.length === 0) {
      fill($("queue-list"), el("p", { class: "empty" }, t("queues.none")));
      return;
    }
    fill($("queue-list"), el("table", { class: "queue-table" },
      el("thead", null, el("tr", null,
        el("th", null, t("call.queue")), el("th", null, t("queues.waiting")),
        el("th", null, t("queues.longest")), el("th", null, t("queues.available")))),
      el("tbody", null, list.map((q) => el("tr", { class: Number(q.waiting) > 0 ? "has-waiting" : "" },
        el("td", null, q.label || q.name || ""),
        el("td", { class: "num" }, String(Number(q.waiting) || 0)),
        el("td", { class: "num" }, clock(Number(q.longest_wait) || 0)),
        el("td", { class: "num" }, q.available === undefined ? "" : String(q.available)))))));
  }

  function fact(labelKey, value) {
    return [el("dt", null, t(labelKey)), el("dd", null, value)];
  }

  function renderCall() {
    const c = model.call;
    window.siagaIncidents.callChanged(c);
    const pop = $("pop");
    renderOutcomes();
    renderRinging();
    if (!c) {
      pop.className = "panel pop idle";
      delete pop.dataset.uniqueid;
      fill($("pop-body"), el("p", { class: "empty" }, t("call.none")));
      return;
    }
    const uid = String(c.uniqueid);
    pop.className = ["panel", "pop", "phase-" + String(c.phase).replace(/[^a-z_]/g, ""), c.emergency ? "emergency" : ""]
      .filter(Boolean).join(" ");
    pop.dataset.uniqueid = uid;
    const ticks = load(CHECKS, uid) || [];
    const checklist = Array.isArray(c.checklist) ? c.checklist : [];
    const history = Array.isArray(c.history) ? c.history : [];
    const standing = c.standing || {};
    const flag = standing.flagged ? standing.flag || "prank" : null;
    const counted = Number(standing.pranks) || Number(standing.silent)
      ? t("call.standing_counts", { pranks: Number(standing.pranks) || 0, silent: Number(standing.silent) || 0 })
      : t("call.standing_clean");
    fill($("pop-body"),
      el("div", { id: "pop-phase", class: "pop-phase" }, i18n.label("call.phase", c.phase)),
      c.consult_from
        ? el("div", { id: "pop-consult", class: "pop-consult" },
          t(c.consult_leg ? "call.consult_from" : "call.transferred_from", { name: c.consult_from }))
        : null,
      flag
        ? el("div", { id: "pop-standing", class: "standing flagged" },
          t("call.standing", { flag: i18n.label("flag", flag), until: when(c.standing.until) }))
        : el("div", { id: "pop-standing", class: "standing clean" }, counted),
      el("div", { class: "pop-caller" },
        el("div", { id: "pop-caller-number", class: "caller-number" }, c.caller || ""),
        el("div", { id: "pop-caller-name", class: "caller-name" }, c.caller_name || t("call.no_name"))),
      el("div", { class: "pop-category" },
        el("span", { id: "pop-emergency", class: c.emergency ? "marker is-emergency" : "marker" },
          c.emergency ? t("call.emergency") : t("call.non_emergency")),
        el("span", { id: "pop-category", class: "category" }, c.category_label || c.category || "")),
      el("dl", { class: "facts" },
        fact("call.keys", el("span", { id: "pop-keys", class: "keys" },
          c.keys ? String(c.keys).split("").join(" ")
            : t(c.keys_known === false ? "call.keys_unknown" : "call.keys_none"))),
        fact("call.queue", el("span", { id: "pop-queue" }, c.queue || "")),
        fact("call.route", el("span", { id: "pop-route" },
          (i18n.lang === "id" && c.route_reason_id) || c.route_reason || "")),
        fact("call.waited", el("span", { id: "pop-waited" }, waited()))),
      c.outcome
        ? el("p", { id: "pop-outcome", class: "outcome-done" }, t("call.outcome", { outcome: i18n.label("outcome", c.outcome) }))
        : null,
      Array.isArray(c.incidents) && c.incidents.length
        ? [el("h3", null, t("call.incidents")), el("ul", { id: "pop-incidents", class: "pop-incidents" },
          c.incidents.map((incident) => el("li", null,
            "#" + Number(incident.id) + " · " + i18n.label("incident.status", incident.status) + " · " +
            (incident.kecamatan || t("incident.kecamatan_unknown")) + " · " + (incident.what || incident.address || ""))))]
        : null,
      el("h3", null, t("call.checklist")),
      checklist.length
        ? el("ul", { id: "pop-checklist", class: "checklist" }, checklist.map((item, i) => el("li", null,
          el("label", null,
            el("input", { type: "checkbox", checked: ticks.includes(i), on: { change: (e) => tick(uid, i, e.target.checked) } }),
            " ", String(item)))))
        : el("p", { class: "empty" }, t("call.checklist_none")),
      el("h3", null, t("call.history")),
      history.length
        ? el("table", { id: "pop-history", class: "history" }, el("tbody", null, history.map((h) => el("tr", null,
          el("td", null, when(h.at)), el("td", null, h.category || ""),
          el("td", { class: "outcome-cell" }, h.outcome ? i18n.label("outcome", h.outcome) : "")))))
        : el("p", { class: "empty" }, t("call.history_none")));
  }

  function tick(uid, index, on) {
    const ticks = new Set(load(CHECKS, uid) || []);
    if (on) ticks.add(index); else ticks.delete(index);
    save(CHECKS, uid, [...ticks]);
  }

  // A consultation is another operator's call: they give its outcome, unless they transfer it here.
  // Nor while this operator consults about it: the citizen is on hold, not to be closed in one key.
  function outcomeAllowed(c) {
    return Boolean(c) && (c.phase === "on_call" || c.phase === "wrap_up") && !c.consult_leg &&
      model.phone.consult === "none" && !model.posting;
  }

  function renderOutcomes() {
    const c = model.call;
    const usable = outcomeAllowed(c);
    fill($("outcome-buttons"), outcomes().map((o) => el("button", {
      type: "button", class: ["btn", "btn-outcome", JUNK.has(o.code) ? "junk" : "keep", c && c.outcome === o.code ? "chosen" : ""],
      "data-outcome": o.code, "aria-keyshortcuts": o.key, disabled: !usable,
      on: { click: () => recordOutcome(o.code) },
    }, el("kbd", null, o.key), " ", i18n.label("outcome", o.code))));
  }

  function renderNotes() {
    const notes = $("notes");
    const uid = model.call ? String(model.call.uniqueid) : null;
    notes.disabled = !uid;
    if (uid !== model.notesFor) {
      // A different call: show its notes (kept across reloads); the same call keeps what is typed.
      model.notesFor = uid;
      notes.value = uid ? load(NOTES, uid) || "" : "";
    }
  }

  function renderPhone() {
    const p = model.phone;
    const reg = $("phone-reg");
    reg.className = "phone-reg reg-" + p.reg;
    reg.textContent = p.reg === "failed" ? t("phone.failed", { cause: p.cause })
      : p.reg === "none" ? "" : t("phone." + p.reg);
    $("phone-call").textContent = p.call === "incoming" ? t("phone.incoming")
      : p.call === "in_call" || p.call === "connecting" ? t("phone.in_call") : t("phone.idle");
    $("btn-answer").disabled = p.call !== "incoming";
    $("btn-hangup").disabled = p.call === "idle";
    $("btn-mute").disabled = p.call !== "in_call";
    $("btn-hold").disabled = p.call !== "in_call";
    const consulting = p.consult !== "none";
    const transferable = p.call === "in_call" && Boolean(model.call) && !model.call.consult_leg && !consulting;
    $("btn-transfer").disabled = !transferable;
    $("btn-consult").disabled = !transferable;
    $("btn-consult-complete").disabled = p.consult !== "talking" || model.completing;
    $("btn-consult-cancel").disabled = !consulting;
    $("consult-status").textContent = consulting ? t("consult." + p.consult) : "";
    renderOutcomes();
    $("btn-mute").textContent = p.muted ? t("phone.unmute") : t("phone.mute");
    $("btn-hold").textContent = p.held ? t("phone.unhold") : t("phone.hold");
    $("btn-mute").setAttribute("aria-pressed", String(p.muted));
    $("btn-hold").setAttribute("aria-pressed", String(p.held));
    renderRinging();
  }

  function renderRinging() {
    const ringing = model.phone.call === "incoming" || (model.call && model.call.phase === "ringing");
    document.body.classList.toggle("ringing", Boolean(ringing));
    document.title = (ringing ? "☎ " + t("state.ringing") + " — " : "") + t("app.title");
    ringer.set(Boolean(ringing) && $("ring-sound").checked);
  }

  function renderAll() {
    renderState(); renderQueues(); renderCall(); renderNotes(); renderPhone();
  }

  function setConnected(on) {
    model.connected = on;
    $("banner-reconnect").hidden = on;
    $("workspace").classList.toggle("stale", !on);
  }

  // ---- actions ----
  // The state shown comes from the WebSocket alone: a reply may predate Asterisk's own events and
  // would paint an old state over a newer one.
  async function setState(body) {
    await post("/api/state", body);
  }

  async function recordOutcome(code) {
    const c = model.call;
    if (!outcomeAllowed(c)) return;
    const uid = String(c.uniqueid);
    model.posting = true;
    renderOutcomes();
    if (JUNK.has(code) && phone) phone.hangup(); // the caller is gone before the verdict is stored
    const data = await post("/api/calls/" + encodeURIComponent(uid) + "/outcome", { outcome: code });
    model.posting = false;
    if (data && model.call && String(model.call.uniqueid) === uid) model.call = Object.assign({}, model.call, { outcome: code });
    renderCall();
  }

  function answer() {
    if (phone && phone.answer()) $("remote-audio").play().catch(() => { /* plays when media arrives */ });
  }
  function hangup() { if (phone) phone.hangup(); }

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset"].includes(target.type);
  }

  function onKey(e) {
    if (e.defaultPrevented || e.repeat || e.ctrlKey || e.altKey || e.metaKey || isTyping(e.target)) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (key === "a") { e.preventDefault(); answer(); return; }
    if (key === "h") { e.preventDefault(); hangup(); return; }
    const match = outcomes().find((o) => o.key === key);
    if (match) { e.preventDefault(); recordOutcome(match.code); }
  }

  // ---- live updates ----

  function onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch (_) { return; }
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "state") { model.state = msg.state; renderState(); }
    else if (msg.type === "queues") { model.queues = msg.queues; renderQueues(); }
    else if (msg.type === "call") {
      model.call = msg.call || null;
      model.callAt = performance.now();
      renderCall(); renderNotes();
      if (model.call) performance.mark("siaga-pop-" + String(model.call.uniqueid));
    }
  }

  function connect() {
    api.liveSocket("/ws", {
      message: onMessage,
      connected: (up) => { if (up !== model.connected) setConnected(up); },
      resume: async () => {
        const res = await fetchMe();
        if (res.unauthorized) return false;
        if (res.ok) adopt(res.me);
        return true;
      },
    });
  }

  // Blind transfer to an agency's queue: Asterisk takes the caller there, and back to this phone if
  // nobody there answers; the call's outcome is then "transferred".
  async function transferCall() {
    const queue = $("transfer-target").value;
    const c = model.call;
    if (!queue || !c || !phone) return;
    $("btn-transfer").disabled = true;
    const ok = await phone.transfer(queue);
    if (!ok) { showError(t("transfer.failed")); renderPhone(); return; }
    phone.hangup(); // Asterisk took the caller (202 Accepted): this leg is over, the phone free again
    await transferred(c);
  }

  function transferred(c) {
    return post("/api/calls/" + encodeURIComponent(String(c.uniqueid)) + "/outcome", { outcome: "transferred" });
  }

  // Warm transfer: Konsultasi holds the citizen and calls the agency's queue (their operator's screen
  // pops with this call); Selesaikan joins the citizen to them; Batal (or that call ending) brings
  // the citizen back to this phone.
  function consultCall() {
    const queue = $("transfer-target").value;
    const c = model.call;
    if (!queue || !c || !phone) return;
    clearError();
    if (!phone.consultStart(queue, c.uniqueid)) showError(t("transfer.failed"));
  }

  async function completeConsult() {
    const c = model.call;
    if (!c || !phone || model.completing) return;
    model.completing = true;
    renderPhone();
    const ok = await phone.consultComplete(async () =>
      Boolean(await post("/api/calls/" + encodeURIComponent(String(c.uniqueid)) + "/transfer", {})));
    model.completing = false;
    if (!ok) { showError(t("transfer.failed")); renderPhone(); return; }
    await transferred(c);
  }

  function phoneChanged(status) {
    const back = model.phone.consult !== "none" && status.consult === "none" && !model.completing;
    model.phone = status;
    if (back) showError(t("consult.back"));
    renderPhone();
  }

  function renderTransferTargets() {
    const targets = (model.me && Array.isArray(model.me.transfer_targets)) ? model.me.transfer_targets : [];
    fill($("transfer-target"), targets.map((target) => el("option", { value: target.queue }, target.label)));
  }

  function adopt(me) {
    const first = !model.me;
    model.me = me;
    model.csrf = String(me.csrf || "");
    renderHeader(); renderOutcomes(); renderTransferTargets();
    if (first) {
      phone = window.phoneKit.createPhone(me.sip, $("remote-audio"), phoneChanged);
      window.siagaPhone = phone; // for a supervisor's or a test's look at the audio (audioStats)
      phone.start();
    }
  }

  async function init() {
    i18n.apply();
    prune();
    try { $("ring-sound").checked = window.localStorage.getItem(RING_KEY) === "1"; } catch (_) { /* storage blocked */ }
    renderAll();
    const res = await fetchMe();
    if (res.unauthorized) return;
    if (!res.ok) {
      showError(t("error.network"));
      setTimeout(init, BACKOFF_MAX_MS);
      return;
    }
    clearError();
    adopt(res.me);
    connect();
  }

  $("notes").addEventListener("input", (e) => { if (model.notesFor) save(NOTES, model.notesFor, e.target.value); });
  $("btn-available").addEventListener("click", () => setState({ action: "available" }));
  $("btn-leave").addEventListener("click", () => setState({ action: "logout" }));
  $("btn-logout").addEventListener("click", async () => {
    if (phone) phone.stop();
    await post("/api/logout", {});
    goLogin();
  });
  $("btn-answer").addEventListener("click", answer);
  $("btn-hangup").addEventListener("click", hangup);
  $("btn-mute").addEventListener("click", () => phone && phone.toggleMute());
  $("btn-hold").addEventListener("click", () => phone && phone.toggleHold());
  fill($("dtmf-pad"), ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"].map((d) =>
    el("button", { type: "button", class: "btn btn-dtmf", on: { click: () => phone && phone.dtmf(d) } }, d)));
  $("ring-sound").addEventListener("change", (e) => {
    try { window.localStorage.setItem(RING_KEY, e.target.checked ? "1" : "0"); } catch (_) { /* not remembered */ }
    if (e.target.checked) ringer.unlock();
    renderRinging();
  });
  $("lang-switch").addEventListener("click", () => i18n.toggle());
  i18n.onChange(renderAll);
  // What the incident panel (incidents.js) shares: the same POST, CSRF token and error line.
  window.siagaConsole = Object.freeze({ post, get me() { return model.me; } });
  $("btn-transfer").addEventListener("click", transferCall);
  $("btn-consult").addEventListener("click", consultCall);
  $("btn-consult-complete").addEventListener("click", completeConsult);
  $("btn-consult-cancel").addEventListener("click", () => phone && phone.cancelConsult());
  window.siagaIncidents.start();
  window.siagaCallbacks.start();
  document.addEventListener("keydown", onKey);
  // Browsers allow sound only after a gesture: the first click or key after a reload unlocks the ring.
  for (const ev of ["pointerdown", "keydown"]) {
    document.addEventListener(ev, () => { if ($("ring-sound").checked) ringer.unlock(); });
  }
  setInterval(() => {
    if (model.call && document.getElementById("pop-waited")) $("pop-waited").textContent = waited();
    if (model.state && model.state.state === "wrap_up") $("state-badge").textContent = stateText();
  }, 1000);
  init();
})();

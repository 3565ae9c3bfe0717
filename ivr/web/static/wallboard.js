// The supervisor's wallboard. The server is the truth: each WebSocket message is the whole picture of
// the floor (docs/wallboard-api.md), so this file keeps the last one, draws it, counts waits and
// durations on between messages, and sends the supervisor's actions as POSTs with the CSRF token.
// Everything is drawn with dom.el (text nodes), never as markup. `?layar=besar`: the big screen on the
// wall (large numbers, no controls).
"use strict";

(function () {
  const { el, fill, $ } = window.dom;
  const i18n = window.i18n;

  const WORDS = {
    id: {
      "title": "Papan Pantau 112",
      "link.big": "Layar besar",
      "link.console": "Konsol",
      "banner.reconnecting": "Terhubung kembali… (angka belum diperbarui)",
      "forbidden": "Papan pantau hanya untuk supervisor dan admin.",
      "live.on": "Langsung",
      "live.off": "Asterisk tidak terhubung: angka terakhir",
      "tile.ivr": "Di menu IVR",
      "tile.waiting": "Menunggu di antrean",
      "tile.longest": "Tunggu terlama",
      "tile.nena": "Dijawab ≤ {s} dtk",
      "tile.nena_sub": "{n} dari {m} · target {p}%",
      "tile.nena_none": "belum ada yang dijawab · target {p}%",
      "tile.abandoned": "Ditinggal di antrean",
      "tile.abandoned_sub": "+ {n} ditutup di menu",
      "tile.prank": "Iseng hari ini",
      "tile.ghost": "Hening (ghost) hari ini",
      "tile.share_sub": "{n} dari {m} panggilan",
      "tile.free": "Petugas siap",
      "tile.free_sub": "{n} sedang menerima panggilan",
      "met": "memenuhi target",
      "missed": "di bawah target",
      "queues.title": "Antrean",
      "queues.queue": "Antrean",
      "queues.waiting": "Menunggu",
      "queues.longest": "Terlama",
      "queues.members": "Masuk",
      "queues.free": "Siap",
      "queues.paused": "Jeda",
      "operators.title": "Petugas",
      "operators.name": "Nama",
      "operators.state": "Status",
      "operators.since": "Sejak",
      "operators.queues": "Antrean",
      "operators.call": "Panggilan",
      "operators.actions": "Tindakan",
      "operators.none": "Belum ada data petugas.",
      "since.inexact": "≥ {t}",
      "since.inexact_why": "Sudah begitu saat layanan mulai memantau: awal sebenarnya tidak diketahui.",
      "call.emergency": "DARURAT",
      "call.ringing": "berdering",
      "btn.pause": "Jedakan",
      "btn.logout": "Keluarkan dari antrean",
      "spy.listen": "Dengar",
      "spy.whisper": "Bisik",
      "spy.barge": "Sela",
      "spy.note": "Dengar / bisik / sela: Asterisk menelepon telepon konsol Anda (biarkan tab Konsol terbuka), jawab untuk bergabung.",
      "spy.ringing": "Telepon konsol Anda berdering: jawab untuk {mode} {name}.",
      "done.pause": "{name} dijeda: {reason}.",
      "done.logout": "{name} dikeluarkan dari antrean.",
      "confirm.logout": "Keluarkan {name} dari semua antreannya?",
      "error.generic": "Gagal: {detail}",
      "error.network": "Server tidak dapat dihubungi.",
    },
    en: {
      "title": "112 Wallboard",
      "link.big": "Big screen",
      "link.console": "Console",
      "banner.reconnecting": "Reconnecting… (figures may be out of date)",
      "forbidden": "The wallboard is for supervisors and admins.",
      "live.on": "Live",
      "live.off": "Asterisk not connected: last known figures",
      "tile.ivr": "In the IVR menu",
      "tile.waiting": "Waiting in queues",
      "tile.longest": "Longest wait",
      "tile.nena": "Answered ≤ {s} s",
      "tile.nena_sub": "{n} of {m} · target {p}%",
      "tile.nena_none": "none answered yet · target {p}%",
      "tile.abandoned": "Abandoned in queues",
      "tile.abandoned_sub": "+ {n} hung up in the menu",
      "tile.prank": "Prank today",
      "tile.ghost": "Silent (ghost) today",
      "tile.share_sub": "{n} of {m} calls",
      "tile.free": "Operators free",
      "tile.free_sub": "{n} on a call",
      "met": "target met",
      "missed": "below target",
      "queues.title": "Queues",
      "queues.queue": "Queue",
      "queues.waiting": "Waiting",
      "queues.longest": "Longest",
      "queues.members": "Logged in",
      "queues.free": "Free",
      "queues.paused": "Paused",
      "operators.title": "Operators",
      "operators.name": "Name",
      "operators.state": "State",
      "operators.since": "For",
      "operators.queues": "Queues",
      "operators.call": "Call",
      "operators.actions": "Actions",
      "operators.none": "No operator data yet.",
      "since.inexact": "≥ {t}",
      "since.inexact_why": "Already so when the service started watching: the real start is not known.",
      "call.emergency": "EMERGENCY",
      "call.ringing": "ringing",
      "btn.pause": "Pause",
      "btn.logout": "Take out of queues",
      "spy.listen": "Listen",
      "spy.whisper": "Whisper",
      "spy.barge": "Barge",
      "spy.note": "Listen / whisper / barge: Asterisk calls your console's phone (keep the Console tab open); answer to join.",
      "spy.ringing": "Your console's phone is ringing: answer to {mode} {name}.",
      "done.pause": "{name} paused: {reason}.",
      "done.logout": "{name} taken out of the queues.",
      "confirm.logout": "Take {name} out of all their queues?",
      "error.generic": "Failed: {detail}",
      "error.network": "The server cannot be reached.",
    },
  };
  const KNOWN_STATES = new Set(["available", "ringing", "on_call", "wrap_up", "paused", "logged_out", "phone_offline"]);
  const WATCHERS = new Set(["supervisor", "admin"]);
  const SPY_MODES = ["listen", "whisper", "barge"];
  const BACKOFF_MAX_MS = 5000;
  const big = new URLSearchParams(window.location.search).get("layar") === "besar";

  const model = { me: null, csrf: "", floor: null, offset: 0, connected: false, reasons: {} };

  function wt(key, params) {
    const table = WORDS[i18n.lang] || WORDS.id;
    let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
    if (params) for (const [k, v] of Object.entries(params)) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  // ---- time: the server's clock, counted on between messages ----
  function serverNow() { return Date.now() / 1000 + model.offset; }
  function elapsed() { return model.floor ? Math.max(0, serverNow() - model.floor.at) : 0; }
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s % 60).padStart(2, "0");
  }
  function percent(share) { return share === null || share === undefined ? "–" : Math.round(share * 1000) / 10 + "%"; }

  // ---- server ----
  const api = window.siagaApi.createApi(() => model.csrf, (key, params) => wt(key, params));
  const { post, fetchMe, showError, clearError, goLogin } = api;
  function notice(text) { const n = $("wb-notice"); n.textContent = text; n.hidden = !text; }

  // ---- drawing ----
  function stateText(op) {
    if (!KNOWN_STATES.has(op.state)) return i18n.t("state.unknown");
    if (op.state === "paused") return i18n.t("state.paused", { reason: op.reason || "" });
    if (op.state === "wrap_up") return i18n.t("state.wrap_up", { t: "" }).trim();
    return i18n.t("state." + op.state);
  }

  function tile(key, value, label, sub, cls) {
    return el("div", { class: ["tile", cls], id: "tile-" + key },
      el("div", { class: "tile-value", id: "wb-" + key }, value),
      el("div", { class: "tile-label" }, label),
      sub ? el("div", { class: "tile-sub" }, sub) : null);
  }

  function renderTiles() {
    const f = model.floor;
    if (!f) { fill($("wb-tiles")); return; }
    const today = f.today || {};
    const byState = f.by_state || {};
    const nena = (today.nena || []).map((n) => tile(
      "nena-" + n.seconds,
      percent(n.share),
      wt("tile.nena", { s: n.seconds }),
      today.answered
        ? wt("tile.nena_sub", { n: today["answered_" + n.seconds], m: today.answered, p: Math.round(n.target * 100) }) +
          " · " + wt(n.met ? "met" : "missed")
        : wt("tile.nena_none", { p: Math.round(n.target * 100) }),
      n.met ? "good" : "alarm"));
    fill($("wb-tiles"),
      tile("ivr", String(f.ivr_calls), wt("tile.ivr")),
      tile("waiting", String(f.waiting), wt("tile.waiting"), null, f.waiting > 0 ? "busy" : ""),
      tile("longest", clock(f.longest_wait + (f.waiting > 0 ? elapsed() : 0)), wt("tile.longest"), null,
        f.waiting > 0 && f.longest_wait >= 15 ? "alarm" : ""),
      tile("free", String(byState.available || 0), wt("tile.free"),
        wt("tile.free_sub", { n: (byState.on_call || 0) + (byState.ringing || 0) }), (byState.available || 0) ? "" : "alarm"),
      nena,
      tile("abandoned", String(today.abandoned_queue || 0), wt("tile.abandoned"),
        wt("tile.abandoned_sub", { n: today.abandoned_ivr || 0 })),
      tile("prank", percent(today.prank_share), wt("tile.prank"), wt("tile.share_sub", { n: today.prank || 0, m: today.calls || 0 })),
      tile("ghost", percent(today.ghost_share), wt("tile.ghost"), wt("tile.share_sub", { n: today.ghost || 0, m: today.calls || 0 })));
  }

  function renderQueues() {
    const f = model.floor;
    const queues = f && Array.isArray(f.queues) ? f.queues : [];
    fill($("wb-queues"), el("table", { class: "queue-table wb-table" },
      el("thead", null, el("tr", null,
        el("th", null, wt("queues.queue")), el("th", null, wt("queues.waiting")), el("th", null, wt("queues.longest")),
        el("th", null, wt("queues.members")), el("th", null, wt("queues.free")), el("th", null, wt("queues.paused")))),
      el("tbody", null, queues.map((q) => el("tr", { class: q.waiting > 0 ? "has-waiting" : "", "data-queue": q.name },
        el("td", null, q.label || q.name),
        el("td", { class: "num" }, String(q.waiting)),
        el("td", { class: "num wb-wait", "data-wait": String(q.waiting > 0 ? q.longest_wait : -1) },
          q.waiting > 0 ? clock(q.longest_wait + elapsed()) : "–"),
        el("td", { class: "num" }, String(q.members)),
        el("td", { class: "num" }, String(q.free)),
        el("td", { class: "num" }, String(q.paused)))))));
  }

  function sinceText(op) {
    const t = clock(serverNow() - op.since);
    return op.since_exact ? t : wt("since.inexact", { t });
  }

  function actions(op) {
    if (big || !model.me) return null;
    const me = model.me.operator || {};
    if (!WATCHERS.has(me.role)) return null;
    const name = op.name || op.id;
    const reasons = model.me.pause_reasons || [];
    const chosen = model.reasons[op.id] || reasons[0] || "";
    const loggedIn = op.state !== "logged_out";
    const select = el("select", {
      class: "wb-reason", "data-operator": op.id, "aria-label": wt("btn.pause") + " " + name, disabled: !loggedIn,
      on: { change: (e) => { model.reasons[op.id] = e.target.value; } },
    }, reasons.map((r) => el("option", { value: r }, r)));
    select.value = chosen;
    const buttons = [
      select,
      el("button", {
        type: "button", class: "btn", "data-action": "pause", "data-operator": op.id, disabled: !loggedIn,
        on: { click: () => forcePause(op, select.value) },
      }, wt("btn.pause")),
      el("button", {
        type: "button", class: "btn", "data-action": "logout", "data-operator": op.id, disabled: !loggedIn,
        on: { click: () => forceLogout(op) },
      }, wt("btn.logout")),
    ];
    if (me.role === "supervisor" && op.state === "on_call" && op.id !== me.id) {
      for (const mode of SPY_MODES) {
        buttons.push(el("button", {
          type: "button", class: "btn btn-spy", "data-action": "spy-" + mode, "data-operator": op.id,
          on: { click: () => spy(op, mode) },
        }, wt("spy." + mode)));
      }
    }
    return el("div", { class: "wb-actions" }, buttons);
  }

  function renderOperators() {
    const f = model.floor;
    const ops = f && Array.isArray(f.operators) ? f.operators : [];
    if (!ops.length) { fill($("wb-operators"), el("p", { class: "empty" }, wt("operators.none"))); return; }
    const withActions = !big;
    fill($("wb-operators"), el("table", { class: "wb-table wb-operator-table" },
      el("thead", null, el("tr", null,
        el("th", null, wt("operators.name")), el("th", null, wt("operators.state")), el("th", null, wt("operators.since")),
        el("th", null, wt("operators.queues")), el("th", null, wt("operators.call")),
        withActions ? el("th", null, wt("operators.actions")) : null)),
      el("tbody", null, ops.map((op) => el("tr", { "data-operator": op.id, "data-state": op.state, class: "state-row-" + op.state },
        el("td", { class: "wb-name" }, op.name || op.id),
        el("td", null, el("span", {
          class: "badge state-" + (KNOWN_STATES.has(op.state) ? op.state : "unknown"), "data-role": "state",
        }, stateText(op))),
        el("td", {
          class: ["num", "wb-since", op.since_exact ? "" : "inexact"], "data-since": String(op.since),
          "data-exact": op.since_exact ? "1" : "0", title: op.since_exact ? "" : wt("since.inexact_why"),
        }, sinceText(op)),
        el("td", null, (op.queues || []).join(", ")),
        el("td", null, op.call
          ? [op.call.emergency ? el("span", { class: "marker is-emergency" }, wt("call.emergency")) : null, " ",
            op.call.category_label || "", op.call.phase === "ringing" ? " (" + wt("call.ringing") + ")" : ""]
          : ""),
        withActions ? el("td", null, actions(op)) : null)))));
  }

  function renderLive() {
    const badge = $("wb-live");
    const live = Boolean(model.floor && model.floor.live) && model.connected;
    badge.className = "badge " + (live ? "state-available" : "state-phone_offline");
    badge.textContent = wt(live ? "live.on" : "live.off");
  }

  function renderStatic() {
    document.title = "Siaga 112 — " + wt("title");
    for (const node of document.querySelectorAll("[data-wb]")) node.textContent = wt(node.dataset.wb);
    const me = model.me && model.me.operator;
    $("wb-who").textContent = me ? (me.name || me.id) : "";
    $("wb-spy-note").hidden = big || !me || me.role !== "supervisor";
  }

  function renderAll() { renderStatic(); renderLive(); renderTiles(); renderQueues(); renderOperators(); }

  // Every second: the clock, the waits and the durations move on without a message.
  function tick() {
    $("wb-clock").textContent = new Date(serverNow() * 1000).toLocaleTimeString(i18n.lang === "id" ? "id-ID" : "en-GB");
    const f = model.floor;
    if (!f) return;
    if (f.waiting > 0) $("wb-longest").textContent = clock(f.longest_wait + elapsed());
    for (const cell of document.querySelectorAll(".wb-wait")) {
      const base = Number(cell.dataset.wait);
      if (base >= 0) cell.textContent = clock(base + elapsed());
    }
    for (const cell of document.querySelectorAll(".wb-since")) {
      cell.textContent = sinceText({ since: Number(cell.dataset.since), since_exact: cell.dataset.exact === "1" });
    }
  }

  // ---- actions ----
  function path(op, what) { return "/api/operators/" + encodeURIComponent(op.id) + "/" + what; }

  async function forcePause(op, reason) {
    const data = await post(path(op, "pause"), { reason });
    if (data) notice(wt("done.pause", { name: op.name || op.id, reason }));
  }

  async function forceLogout(op) {
    if (!window.confirm(wt("confirm.logout", { name: op.name || op.id }))) return;
    const data = await post(path(op, "logout"), {});
    if (data) notice(wt("done.logout", { name: op.name || op.id }));
  }

  async function spy(op, mode) {
    const data = await post(path(op, "spy"), { mode });
    if (data) notice(wt("spy.ringing", { mode: wt("spy." + mode).toLowerCase(), name: op.name || op.id }));
  }

  // ---- live updates ----

  function setConnected(on) {
    model.connected = on;
    $("banner-reconnect").hidden = on;
    $("wallboard").classList.toggle("stale", !on);
    renderLive();
  }

  function onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch (_) { return; }
    if (!msg || msg.type !== "floor") return;
    model.floor = msg;
    model.offset = Number(msg.at) - Date.now() / 1000;
    renderLive(); renderTiles(); renderQueues(); renderOperators();
  }

  function connect() {
    api.liveSocket("/ws/wallboard", {
      message: onMessage,
      connected: (up) => { if (up !== model.connected) setConnected(up); },
      resume: async () => {
        const res = await fetchMe();
        if (res.unauthorized) return false;
        if (res.ok) adopt(res.me);
        return Boolean(model.me && WATCHERS.has((model.me.operator || {}).role));
      },
    });
  }

  function adopt(me) {
    model.me = me;
    model.csrf = String(me.csrf || "");
    renderStatic();
  }

  async function init() {
    document.documentElement.classList.toggle("big", big);
    i18n.apply();
    renderAll();
    const res = await fetchMe();
    if (res.unauthorized) return;
    if (!res.ok) {
      showError(wt("error.network"));
      setTimeout(init, BACKOFF_MAX_MS);
      return;
    }
    clearError();
    adopt(res.me);
    if (!WATCHERS.has((res.me.operator || {}).role)) {
      $("wb-forbidden").hidden = false;
      $("wallboard").hidden = true;
      return;
    }
    connect();
  }

  $("lang-switch").addEventListener("click", () => i18n.toggle());
  i18n.onChange(renderAll);
  setInterval(tick, 1000);
  init();
})();

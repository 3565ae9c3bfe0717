// The incident panel: open an incident from the call in hand, link the call to an open incident in
// one action (five callers, one fire), mark an incident dispatched and closed. Text typed by people
// is written back as text only (dom.el); the list is refreshed after each action and every 15 s.
"use strict";

(function () {
  const { el, fill, $ } = window.dom;
  const i18n = window.i18n;
  const t = i18n.t;
  const REFRESH_MS = 15000;
  const state = { options: null, incidents: [], call: null };

  async function get(path) {
    try {
      const response = await fetch(path, { credentials: "same-origin" });
      return response.ok ? await response.json() : null;
    } catch (_) {
      return null;
    }
  }

  async function refresh() {
    if (!state.options) state.options = await get("/api/incidents/options");
    const data = await get("/api/incidents");
    if (data) state.incidents = data.incidents || [];
    render();
  }

  function value(id) { return $(id).value; }

  async function openIncident() {
    const c = state.call;
    const victims = value("incident-victims");
    const body = {
      kecamatan: value("incident-kecamatan"),
      address: value("incident-address"),
      landmark: value("incident-landmark"),
      what: value("incident-what"),
      victims: victims === "" ? null : Number(victims),
      agencies: [...document.querySelectorAll("#incident-agencies input:checked")].map((box) => box.value),
      category: c && c.category ? String(c.category) : "",
    };
    if (c) body.uniqueid = String(c.uniqueid);
    const data = await window.siagaConsole.post("/api/incidents", body);
    if (data) {
      for (const id of ["incident-address", "incident-landmark", "incident-what", "incident-victims"]) $(id).value = "";
      await refresh();
    }
  }

  async function act(incident, body, path) {
    const data = await window.siagaConsole.post("/api/incidents/" + Number(incident.id) + (path || ""), body);
    if (data) await refresh();
  }

  function form() {
    const o = state.options || { kecamatan: [], agencies: [] };
    return el("div", { id: "incident-form", class: "incident-form" },
      el("label", { for: "incident-kecamatan" }, t("incident.kecamatan")),
      el("select", { id: "incident-kecamatan", name: "kecamatan" },
        el("option", { value: "" }, t("incident.kecamatan_unknown")),
        o.kecamatan.map((name) => el("option", { value: name }, name))),
      el("label", { for: "incident-address" }, t("incident.address")),
      el("input", { id: "incident-address", type: "text", maxlength: 300, autocomplete: "off" }),
      el("label", { for: "incident-landmark" }, t("incident.landmark")),
      el("input", { id: "incident-landmark", type: "text", maxlength: 200, autocomplete: "off" }),
      el("label", { for: "incident-what" }, t("incident.what")),
      el("textarea", { id: "incident-what", rows: 2, maxlength: 2000 }),
      el("label", { for: "incident-victims" }, t("incident.victims")),
      el("input", { id: "incident-victims", type: "number", min: 0, max: 10000, inputmode: "numeric" }),
      el("fieldset", { id: "incident-agencies", class: "agencies" },
        el("legend", null, t("incident.agencies")),
        o.agencies.map((agency) => el("label", null,
          el("input", { type: "checkbox", name: "agency", value: agency.name }), " ", agency.label))),
      el("button", { type: "button", id: "incident-open", class: "btn btn-primary", on: { click: openIncident } },
        state.call ? t("incident.open_with_call") : t("incident.open")));
  }

  // Supervisors hear a call's recording (the server refuses anyone else and audits each play). The
  // audio comes as a blob whose object URL is set as a property: no caller data in any attribute.
  async function play(uid, slot) {
    const response = await fetch("/api/recordings/" + encodeURIComponent(uid), { credentials: "same-origin" });
    if (!response.ok) { fill(slot, t("incident.no_recording")); return; }
    const audio = el("audio", { controls: true });
    audio.src = URL.createObjectURL(await response.blob());
    audio.addEventListener("ended", () => URL.revokeObjectURL(audio.src)); // the WAV leaves memory
    fill(slot, audio);
    audio.play().catch(() => { /* the controls are there */ });
  }

  function recordings(incident) {
    const me = window.siagaConsole && window.siagaConsole.me;
    if (!me || me.operator.role !== "supervisor") return null;
    return el("div", { class: "incident-recordings" }, incident.calls.map((uid) => {
      const slot = el("span", { class: "recording-slot" });
      return el("div", null,
        el("button", { type: "button", class: "btn incident-play", "data-uniqueid": String(uid),
          on: { click: () => play(String(uid), slot) } }, t("incident.play")), " ", slot);
    }));
  }

  function row(incident) {
    const c = state.call;
    const uid = c ? String(c.uniqueid) : null;
    const linked = uid !== null && incident.calls.includes(uid);
    return el("li", { class: ["incident", "status-" + String(incident.status).replace(/[^a-z]/g, "")],
      "data-incident": String(incident.id) },
    el("div", { class: "incident-head" },
      el("strong", null, "#" + Number(incident.id)), " ",
      el("span", { class: "incident-status" }, i18n.label("incident.status", incident.status)), " · ",
      incident.kecamatan || t("incident.kecamatan_unknown"), " · ",
      t("incident.calls", { n: incident.calls.length })),
    el("div", { class: "incident-what" }, incident.what || incident.address || ""),
    recordings(incident),
    el("div", { class: "incident-actions" },
      uid && !linked
        ? el("button", { type: "button", class: "btn incident-link", on: { click: () => act(incident, { uniqueid: uid }, "/calls") } },
          t("incident.link"))
        : null,
      linked ? el("span", { class: "incident-linked" }, t("incident.linked")) : null,
      incident.status === "open"
        ? el("button", { type: "button", class: "btn incident-dispatched", on: { click: () => act(incident, { status: "dispatched" }) } },
          t("incident.mark_dispatched"))
        : null,
      el("button", { type: "button", class: "btn incident-closed", on: { click: () => act(incident, { status: "closed" }) } },
        t("incident.mark_closed"))));
  }

  function playing() {
    return [...document.querySelectorAll("#incident-list audio")].some((audio) => !audio.paused);
  }

  function render() {
    // The form keeps what is being typed: it is drawn once, the list below it on every change.
    if (!document.getElementById("incident-form")) fill($("incident-new"), form());
    else $("incident-open").textContent = state.call ? t("incident.open_with_call") : t("incident.open");
    if (playing()) return; // redrawing the list would stop a supervisor's playback mid-sentence
    fill($("incident-list"), state.incidents.length
      ? el("ul", { class: "incidents" }, state.incidents.map(row))
      : el("p", { class: "empty" }, t("incident.none")));
  }

  window.siagaIncidents = Object.freeze({
    callChanged(call) {
      const before = state.call ? String(state.call.uniqueid) : null;
      state.call = call;
      if ((call ? String(call.uniqueid) : null) !== before) refresh();
    },
    start() {
      refresh();
      setInterval(refresh, REFRESH_MS);
      i18n.onChange(() => { fill($("incident-new")); render(); });
    },
  });
})();

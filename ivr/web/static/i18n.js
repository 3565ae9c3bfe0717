// Words on the console: Bahasa Indonesia first (operators read it), English on request. The choice is
// remembered per browser. Static labels carry data-i18n="key"; dynamic ones call i18n.t().
"use strict";

(function () {
  const STORAGE_KEY = "siaga.lang";
  const WORDS = {
    id: {
      "app.title": "Siaga 112 — Konsol Petugas",
      "lang.switch": "English",
      "login.title": "Masuk petugas",
      "login.operator": "ID petugas",
      "login.password": "Kata sandi",
      "login.submit": "Masuk",
      "login.busy": "Memeriksa…",
      "login.bad": "ID petugas atau kata sandi salah.",
      "login.limited": "Terlalu banyak percobaan. Coba lagi dalam {n} detik.",
      "login.error": "Server tidak dapat dihubungi. Coba lagi.",
      "state.available": "Tersedia",
      "state.ringing": "Berdering",
      "state.on_call": "Sedang menerima panggilan",
      "state.wrap_up": "Wrap-up {t}",
      "state.paused": "Jeda: {reason}",
      "state.logged_out": "Keluar",
      "state.phone_offline": "Telepon tidak tersambung",
      "state.unknown": "Status belum diketahui",
      "btn.available": "Siap",
      "btn.leave_queues": "Keluar antrean",
      "btn.logout": "Log out",
      "pause.label": "Jeda:",
      "banner.reconnecting": "Terhubung kembali… (tampilan belum diperbarui)",
      "phone.title": "Telepon",
      "phone.no_lib": "Pustaka telepon tidak termuat",
      "phone.connecting": "Menyambung…",
      "phone.registered": "Terdaftar",
      "phone.unregistered": "Tidak terdaftar",
      "phone.failed": "Pendaftaran gagal: {cause}",
      "phone.disconnected": "Tidak tersambung ke server telepon",
      "phone.incoming": "Panggilan masuk",
      "phone.in_call": "Tersambung",
      "phone.idle": "Tidak ada panggilan",
      "phone.answer": "Jawab",
      "phone.hangup": "Tutup",
      "phone.mute": "Bisukan",
      "phone.unmute": "Bunyikan",
      "phone.hold": "Tahan",
      "phone.unhold": "Lanjutkan",
      "phone.ring_sound": "Bunyi dering",
      "phone.dtmf": "Tombol nada",
      "call.title": "Panggilan",
      "call.none": "Belum ada panggilan untuk Anda.",
      "call.phase.ringing": "Berdering — belum dijawab",
      "call.phase.on_call": "Sedang berlangsung",
      "call.phase.wrap_up": "Wrap-up",
      "call.emergency": "DARURAT",
      "call.non_emergency": "Non-darurat",
      "call.no_name": "(tanpa nama)",
      "call.keys": "Tombol ditekan",
      "call.keys_none": "tidak ada",
      "call.queue": "Antrean",
      "call.route": "Alasan rute",
      "call.waited": "Menunggu",
      "call.seconds": "{n} dtk",
      "call.standing": "Status nomor: {flag} sampai {until}",
      "callback.title": "Telepon balik",
      "callback.none": "Tidak ada yang perlu ditelepon balik.",
      "callback.withheld": "Nomor disembunyikan",
      "callback.no_category": "Belum memilih",
      "callback.keys": "tombol {keys}",
      "callback.waited": "menunggu {s} dtk",
      "callback.last": "terakhir: {result}",
      "callback.call": "Telepon",
      "callback.why.abandoned_in_ivr": "tutup di menu",
      "callback.why.abandoned_in_queue": "tutup saat antre",
      "callback.why.silent": "panggilan hening",
      "callback.result.dialing": "sedang ditelepon",
      "callback.result.reached": "Tersambung",
      "callback.result.no_answer": "Tidak diangkat",
      "callback.result.busy": "Sibuk",
      "callback.result.wrong_number": "Nomor salah",
      "callback.result.not_needed": "Tidak perlu",
      "incident.title": "Insiden",
      "incident.open_list": "Insiden yang masih berjalan",
      "incident.kecamatan": "Kecamatan",
      "incident.kecamatan_unknown": "Kecamatan belum diketahui",
      "incident.address": "Alamat",
      "incident.landmark": "Patokan",
      "incident.what": "Apa yang terjadi",
      "incident.victims": "Jumlah korban",
      "incident.agencies": "Instansi yang dikirim",
      "incident.open": "Buat insiden",
      "incident.open_with_call": "Buat insiden untuk panggilan ini",
      "incident.link": "Tautkan panggilan ini",
      "incident.linked": "Panggilan ini tertaut",
      "incident.mark_dispatched": "Tandai: dikirim",
      "incident.mark_closed": "Tutup (instansi melapor selesai)",
      "incident.calls": "{n} panggilan",
      "incident.none": "Tidak ada insiden yang berjalan.",
      "incident.status.open": "Terbuka",
      "incident.status.dispatched": "Dikirim",
      "incident.status.closed": "Selesai",
      "call.standing_clean": "Nomor ini tidak ditandai.",
      "call.standing_counts": "Belum ditandai; belakangan ini {pranks} kali iseng, {silent} kali hening.",
      "call.history": "Riwayat panggilan nomor ini",
      "call.history_none": "Belum ada panggilan sebelumnya.",
      "call.checklist": "Daftar periksa SOP",
      "call.checklist_none": "Tidak ada daftar periksa untuk kategori ini.",
      "call.outcome": "Hasil tercatat: {outcome}",
      "flag.prank": "ISENG (prank)",
      "flag.ghost": "HENING (ghost)",
      "flag.silent": "HENING (ghost)",
      "outcome.title": "Hasil panggilan",
      "outcome.genuine": "Darurat asli",
      "outcome.info": "Informasi",
      "outcome.prank": "Iseng",
      "outcome.silent": "Hening (ghost)",
      "outcome.misdial": "Salah sambung",
      "outcome.transferred": "Dialihkan",
      "notes.title": "Catatan panggilan",
      "notes.placeholder": "Alamat, patokan, kecamatan, korban…",
      "queues.title": "Antrean saya",
      "queues.waiting": "Menunggu",
      "queues.longest": "Terlama",
      "queues.available": "Petugas siap",
      "queues.none": "Belum ada data antrean.",
      "keys.help": "Pintasan: A jawab · H tutup · 1–5 hasil (tidak aktif saat mengetik)",
      "error.generic": "Gagal: {detail}",
      "error.network": "Server tidak dapat dihubungi.",
    },
    en: {
      "app.title": "Siaga 112 — Call-taker console",
      "lang.switch": "Bahasa Indonesia",
      "login.title": "Operator sign-in",
      "login.operator": "Operator ID",
      "login.password": "Password",
      "login.submit": "Sign in",
      "login.busy": "Checking…",
      "login.bad": "Wrong operator ID or password.",
      "login.limited": "Too many attempts. Try again in {n} s.",
      "login.error": "The server cannot be reached. Try again.",
      "state.available": "Available",
      "state.ringing": "Ringing",
      "state.on_call": "On a call",
      "state.wrap_up": "Wrap-up {t}",
      "state.paused": "Paused: {reason}",
      "state.logged_out": "Logged out",
      "state.phone_offline": "Phone not connected",
      "state.unknown": "State not known yet",
      "btn.available": "Ready",
      "btn.leave_queues": "Leave queues",
      "btn.logout": "Log out",
      "pause.label": "Pause:",
      "banner.reconnecting": "Reconnecting… (what you see may be out of date)",
      "phone.title": "Phone",
      "phone.no_lib": "Phone library did not load",
      "phone.connecting": "Connecting…",
      "phone.registered": "Registered",
      "phone.unregistered": "Not registered",
      "phone.failed": "Registration failed: {cause}",
      "phone.disconnected": "Not connected to the phone server",
      "phone.incoming": "Incoming call",
      "phone.in_call": "Connected",
      "phone.idle": "No call",
      "phone.answer": "Answer",
      "phone.hangup": "Hang up",
      "phone.mute": "Mute",
      "phone.unmute": "Unmute",
      "phone.hold": "Hold",
      "phone.unhold": "Resume",
      "phone.ring_sound": "Ring sound",
      "phone.dtmf": "Keypad",
      "call.title": "Call",
      "call.none": "No call for you yet.",
      "call.phase.ringing": "Ringing — not answered yet",
      "call.phase.on_call": "In progress",
      "call.phase.wrap_up": "Wrap-up",
      "call.emergency": "EMERGENCY",
      "call.non_emergency": "Non-emergency",
      "call.no_name": "(no name)",
      "call.keys": "Keys pressed",
      "call.keys_none": "none",
      "call.queue": "Queue",
      "call.route": "Route reason",
      "call.waited": "Waited",
      "call.seconds": "{n} s",
      "call.standing": "Number flagged: {flag} until {until}",
      "callback.title": "Call back",
      "callback.none": "Nobody to call back.",
      "callback.withheld": "Number withheld",
      "callback.no_category": "No choice made",
      "callback.keys": "keys {keys}",
      "callback.waited": "waited {s} s",
      "callback.last": "last: {result}",
      "callback.call": "Call",
      "callback.why.abandoned_in_ivr": "hung up in the menu",
      "callback.why.abandoned_in_queue": "hung up while queued",
      "callback.why.silent": "silent call",
      "callback.result.dialing": "dialling",
      "callback.result.reached": "Reached",
      "callback.result.no_answer": "No answer",
      "callback.result.busy": "Busy",
      "callback.result.wrong_number": "Wrong number",
      "callback.result.not_needed": "Not needed",
      "incident.title": "Incident",
      "incident.open_list": "Incidents in progress",
      "incident.kecamatan": "Kecamatan",
      "incident.kecamatan_unknown": "Kecamatan not known yet",
      "incident.address": "Address",
      "incident.landmark": "Landmark",
      "incident.what": "What happened",
      "incident.victims": "Victims",
      "incident.agencies": "Agencies sent",
      "incident.open": "Open an incident",
      "incident.open_with_call": "Open an incident for this call",
      "incident.link": "Link this call",
      "incident.linked": "This call is linked",
      "incident.mark_dispatched": "Mark: dispatched",
      "incident.mark_closed": "Close (the agency reported back)",
      "incident.calls": "{n} calls",
      "incident.none": "No incident in progress.",
      "incident.status.open": "Open",
      "incident.status.dispatched": "Dispatched",
      "incident.status.closed": "Closed",
      "call.standing_clean": "This number is not flagged.",
      "call.standing_counts": "Not flagged; lately {pranks} prank and {silent} silent calls.",
      "call.history": "Earlier calls from this number",
      "call.history_none": "No earlier calls.",
      "call.checklist": "SOP checklist",
      "call.checklist_none": "No checklist for this category.",
      "call.outcome": "Outcome recorded: {outcome}",
      "flag.prank": "PRANK",
      "flag.ghost": "SILENT (ghost)",
      "flag.silent": "SILENT (ghost)",
      "outcome.title": "Outcome",
      "outcome.genuine": "Genuine",
      "outcome.info": "Information",
      "outcome.prank": "Prank",
      "outcome.silent": "Silent (ghost)",
      "outcome.misdial": "Misdial",
      "outcome.transferred": "Transferred",
      "notes.title": "Call notes",
      "notes.placeholder": "Address, landmark, kecamatan, casualties…",
      "queues.title": "My queues",
      "queues.waiting": "Waiting",
      "queues.longest": "Longest",
      "queues.available": "Ready",
      "queues.none": "No queue data yet.",
      "keys.help": "Shortcuts: A answer · H hang up · 1–5 outcome (off while typing)",
      "error.generic": "Failed: {detail}",
      "error.network": "The server cannot be reached.",
    },
  };

  function readLang() {
    try {
      const saved = window.localStorage.getItem(STORAGE_KEY);
      if (saved && Object.prototype.hasOwnProperty.call(WORDS, saved)) return saved;
    } catch (_) { /* storage blocked: fall back to Indonesian */ }
    return "id";
  }

  let lang = readLang();
  const listeners = [];

  // t("login.limited", {n: 12}) → "… dalam 12 detik." Unknown keys show the key, so a gap is visible.
  function t(key, params) {
    const table = WORDS[lang];
    let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
    if (params) {
      for (const [k, v] of Object.entries(params)) text = text.split("{" + k + "}").join(String(v));
    }
    return text;
  }

  // Labels for codes the server sends (outcomes, flags): a code we have no word for shows as itself.
  function label(prefix, code) {
    const key = prefix + "." + code;
    return Object.prototype.hasOwnProperty.call(WORDS[lang], key) ? WORDS[lang][key] : String(code);
  }

  function apply(root) {
    document.documentElement.lang = lang;
    for (const node of (root || document).querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of (root || document).querySelectorAll("[data-i18n-placeholder]")) {
      node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
    }
    if (document.querySelector("title[data-i18n]")) document.title = t("app.title");
  }

  function setLang(next) {
    if (!Object.prototype.hasOwnProperty.call(WORDS, next)) return;
    lang = next;
    try { window.localStorage.setItem(STORAGE_KEY, next); } catch (_) { /* not remembered */ }
    apply();
    for (const fn of listeners) fn(lang);
  }

  function toggle() { setLang(lang === "id" ? "en" : "id"); }

  window.i18n = Object.freeze({
    t, label, apply, setLang, toggle,
    get lang() { return lang; },
    onChange(fn) { listeners.push(fn); },
  });
})();

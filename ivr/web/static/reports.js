// The reports page (supervisors and admins). Everything shown comes from GET /api/reports; the charts
// are server-made SVG images and the CSV links point at /api/reports.csv, both for the same period.
// Text reaches the page through dom.el (text nodes) only. Bahasa Indonesia first; the language
// choice is the console's (i18n.js), the words of this page are its own (below).
"use strict";

(function () {
  const { el, fill, $ } = window.dom;
  const i18n = window.i18n;

  const COLUMNS = ["total", "prank", "ghost", "genuine", "informasi", "misdial", "transferred", "unclassified"];
  const OUTCOMES = ["answered", "abandoned", "timeout", "empty", "left_with_key", "waiting", "none"];
  const WORDS = {
    id: {
      "page.title": "Siaga 112 — Laporan",
      "title": "Laporan Siaga 112",
      "from": "Dari",
      "to": "Sampai",
      "show": "Tampilkan",
      "console": "Konsol",
      "loading": "Memuat laporan…",
      "loaded": "Laporan {from} s.d. {to} dimuat.",
      "forbidden": "Laporan hanya untuk supervisor dan admin.",
      "failed": "Laporan tidak dapat dimuat: {detail}",
      "network": "Server tidak dapat dihubungi.",
      "summary": "Rekap periode",
      "summary.hint": "Kolom seperti yang diterbitkan Diskominfo (jumlah, iseng, hening, darurat asli, informasi), ditambah salah sambung, dialihkan dan belum diklasifikasi (tanpa hasil dari petugas, mis. ditutup sebelum dijawab), sehingga setiap panggilan dihitung sekali.",
      "period": "Periode {from} s.d. {to} ({zone}).",
      "nena": "Kecepatan menjawab (standar NENA)",
      "nena.hint": "Waktu tunggu di antrean sampai petugas menjawab, tanpa waktu menu. Standar NENA: 90% dijawab dalam 15 detik, 95% dalam 20 detik.",
      "nena.within": "Dijawab ≤ {s} detik",
      "nena.value": "{share} ({n} dari {answered}) — target {target}: {verdict}",
      "nena.none": "tidak ada panggilan dijawab",
      "nena.met": "tercapai",
      "nena.not_met": "belum tercapai",
      "nena.answered": "Dijawab",
      "nena.abandoned": "Ditutup penelepon di antrean",
      "nena.abandoned_ivr": "Ditutup penelepon di menu",
      "nena.requeued": "Diantrekan ulang (telepon petugas terputus)",
      "nena.longest": "Tunggu terlama",
      "seconds": "{n} detik",
      "charts": "Grafik",
      "chart.hours": "Panggilan per jam",
      "chart.answer": "Waktu tunggu sampai dijawab, dengan garis 15 dan 20 detik",
      "chart.hours.alt": "Grafik batang panggilan per jam, {total} panggilan; jam tersibuk {hour}:00 ({n} panggilan). Angka lengkap ada di tabel Per jam.",
      "chart.answer.alt": "Grafik batang waktu tunggu panggilan yang dijawab, dengan garis 15 dan 20 detik: {s15} dijawab dalam 15 detik, {s20} dalam 20 detik.",
      "downloads": "Unduh CSV",
      "table.days": "Per hari",
      "table.months": "Per bulan",
      "table.categories": "Per kategori",
      "table.agencies": "Per instansi",
      "table.hours": "Per jam",
      "table.operators": "Per petugas",
      "table.outcomes": "Hasil di antrean",
      "table.answer_times": "Waktu tunggu",
      "head.days": "Tanggal",
      "head.months": "Bulan",
      "head.categories": "Kategori",
      "head.agencies": "Instansi",
      "head.hours": "Jam",
      "head.operators": "Petugas",
      "head.outcome": "Hasil",
      "head.calls": "Panggilan",
      "head.share": "Bagian",
      "col.total": "Jumlah",
      "col.prank": "Iseng",
      "col.ghost": "Hening (ghost)",
      "col.genuine": "Darurat asli",
      "col.informasi": "Informasi",
      "col.misdial": "Salah sambung",
      "col.transferred": "Dialihkan",
      "col.unclassified": "Belum diklasifikasi",
      "row.total": "Jumlah",
      "row.share": "Bagian",
      "none": "(tidak ada)",
      "empty": "Tidak ada panggilan.",
      "outcome.answered": "Dijawab",
      "outcome.abandoned": "Ditutup penelepon di antrean",
      "outcome.timeout": "Batas waktu antrean",
      "outcome.empty": "Antrean kosong",
      "outcome.left_with_key": "Keluar dengan tombol",
      "outcome.waiting": "Masih menunggu",
      "outcome.none": "Tidak sampai antrean",
    },
    en: {
      "page.title": "Siaga 112 — Reports",
      "title": "Siaga 112 reports",
      "from": "From",
      "to": "To",
      "show": "Show",
      "console": "Console",
      "loading": "Loading the report…",
      "loaded": "Report {from} to {to} loaded.",
      "forbidden": "Reports are for supervisors and admins.",
      "failed": "The report could not be loaded: {detail}",
      "network": "The server cannot be reached.",
      "summary": "Period summary",
      "summary.hint": "The columns Diskominfo publishes (calls, prank, ghost, genuine, information), plus misdial, transferred and unclassified (no outcome from an operator, e.g. hung up before an answer), so every call is counted once.",
      "period": "Period {from} to {to} ({zone}).",
      "nena": "Answering speed (NENA standard)",
      "nena.hint": "Seconds waited in the queue until an operator answered, without the menu's time. NENA: 90% answered within 15 s, 95% within 20 s.",
      "nena.within": "Answered ≤ {s} s",
      "nena.value": "{share} ({n} of {answered}) — target {target}: {verdict}",
      "nena.none": "no calls answered",
      "nena.met": "met",
      "nena.not_met": "not met",
      "nena.answered": "Answered",
      "nena.abandoned": "Abandoned in the queue",
      "nena.abandoned_ivr": "Abandoned in the menu",
      "nena.requeued": "Requeued (operator's phone lost)",
      "nena.longest": "Longest wait",
      "seconds": "{n} s",
      "charts": "Charts",
      "chart.hours": "Calls per hour",
      "chart.answer": "Time to answer, with the 15 and 20 second lines",
      "chart.hours.alt": "Bar chart of calls per hour, {total} calls; busiest hour {hour}:00 ({n} calls). Every number is in the Per hour table.",
      "chart.answer.alt": "Bar chart of the answered calls' waiting time, with lines at 15 and 20 seconds: {s15} answered within 15 s, {s20} within 20 s.",
      "downloads": "Download CSV",
      "table.days": "Per day",
      "table.months": "Per month",
      "table.categories": "Per category",
      "table.agencies": "Per agency",
      "table.hours": "Per hour",
      "table.operators": "Per operator",
      "table.outcomes": "Queue outcomes",
      "table.answer_times": "Answer times",
      "head.days": "Date",
      "head.months": "Month",
      "head.categories": "Category",
      "head.agencies": "Agency",
      "head.hours": "Hour",
      "head.operators": "Operator",
      "head.outcome": "Outcome",
      "head.calls": "Calls",
      "head.share": "Share",
      "col.total": "Calls",
      "col.prank": "Prank",
      "col.ghost": "Ghost (silent)",
      "col.genuine": "Genuine",
      "col.informasi": "Information",
      "col.misdial": "Misdial",
      "col.transferred": "Transferred",
      "col.unclassified": "Unclassified",
      "row.total": "Total",
      "row.share": "Share",
      "none": "(none)",
      "empty": "No calls.",
      "outcome.answered": "Answered",
      "outcome.abandoned": "Abandoned in the queue",
      "outcome.timeout": "Queue timeout",
      "outcome.empty": "Queue empty",
      "outcome.left_with_key": "Left with a key",
      "outcome.waiting": "Still waiting",
      "outcome.none": "Never reached a queue",
    },
  };

  let report = null;
  let message = null; // [kind, key, params], re-worded on a language switch

  function w(key, params) {
    const table = WORDS[i18n.lang] || WORDS.id;
    let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
    if (params) {
      for (const [k, v] of Object.entries(params)) text = text.split("{" + k + "}").join(String(v));
    }
    return text;
  }

  function locale() { return i18n.lang === "id" ? "id-ID" : "en-GB"; }
  function number(n) { return new Intl.NumberFormat(locale()).format(n); }
  function percent(share) {
    if (share === null || share === undefined) return "–";
    return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(share);
  }
  function zoneName(zone) { return zone === "Asia/Jakarta" ? "WIB" : zone; }

  function applyWords() {
    i18n.apply(); // the language button's own words
    document.title = w("page.title");
    for (const node of document.querySelectorAll("[data-r]")) node.textContent = w(node.dataset.r);
  }

  function say(kind, key, params) {
    message = key ? [kind, key, params] : null;
    const error = $("error-line");
    const status = $("status-line");
    error.hidden = !(key && kind === "error");
    error.textContent = key && kind === "error" ? w(key, params) : "";
    status.textContent = key && kind === "status" ? w(key, params) : "";
  }

  // Our own paths with the period as query parameters; URL/searchParams does the encoding.
  function apiUrl(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
    return url;
  }

  async function load() {
    const from = $("from").value;
    const to = $("to").value;
    say("status", "loading");
    let response;
    try {
      response = await fetch(apiUrl("/api/reports", { from, to }), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
    } catch (_) {
      say("error", "network");
      return;
    }
    if (response.status === 401) {
      window.location.assign("/login");
      return;
    }
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (response.status === 403) {
      $("report").hidden = true;
      say("error", "forbidden");
      return;
    }
    if (!response.ok || !body) {
      say("error", "failed", { detail: (body && body.detail) || response.status });
      return;
    }
    report = body;
    $("from").value = body.period.from;
    $("to").value = body.period.to;
    const here = new URL(window.location.href);
    here.searchParams.set("from", body.period.from);
    here.searchParams.set("to", body.period.to);
    window.history.replaceState(null, "", here);
    render();
    say("status", "loaded", { from: body.period.from, to: body.period.to });
  }

  function render() {
    if (!report) return;
    const period = { from: report.period.from, to: report.period.to };
    $("report").hidden = false;
    fill($("period-text"), w("period", { ...period, zone: zoneName(report.period.timezone) }));
    fill($("summary-table"), summaryTable(report.totals));
    fill($("nena-facts"), nenaFacts(report.answer_times, report.requeued));
    charts(period);
    for (const link of document.querySelectorAll(".downloads a")) {
      link.href = apiUrl("/api/reports.csv", { ...period, table: link.dataset.table, lang: i18n.lang });
      link.setAttribute("download", "");
    }
    fill($("table-months"), countsTable(report.months, "head.months", false, true));
    fill($("table-categories"), countsTable(report.categories, "head.categories", true, false));
    fill($("table-agencies"), countsTable(report.agencies, "head.agencies", true, false));
    fill($("table-operators"), countsTable(report.operators, "head.operators", true, false));
    fill($("table-outcomes"), outcomesTable(report.queue_outcomes));
    fill($("table-days"), countsTable(report.days, "head.days", false, true));
    fill($("table-hours"), countsTable(report.hours, "head.hours", false, true));
  }

  function charts(period) {
    const hours = report.hours.map((line) => line.total);
    const total = hours.reduce((a, b) => a + b, 0);
    const busiest = hours.indexOf(Math.max(...hours));
    const hoursImg = $("chart-hours");
    hoursImg.src = apiUrl("/api/reports/chart/hours.svg", { ...period, lang: i18n.lang });
    hoursImg.alt = w("chart.hours.alt", { total: number(total), hour: String(busiest).padStart(2, "0"), n: hours[busiest] });
    const times = report.answer_times;
    const answerImg = $("chart-answer");
    answerImg.src = apiUrl("/api/reports/chart/answer-times.svg", { ...period, lang: i18n.lang });
    answerImg.alt = w("chart.answer.alt", { s15: percent(times.share_15), s20: percent(times.share_20) });
  }

  function summaryTable(totals) {
    const share = (n) => (totals.total ? percent(n / totals.total) : "–");
    return el("table", { class: "report-table summary" },
      el("thead", null, el("tr", null, el("th", null, ""), ...COLUMNS.map((c) => el("th", { class: "num" }, w("col." + c))))),
      el("tbody", null,
        el("tr", null, el("th", null, w("row.total")), ...COLUMNS.map((c) => el("td", { class: "num" }, number(totals[c])))),
        el("tr", null, el("th", null, w("row.share")), ...COLUMNS.map((c) => el("td", { class: "num" }, share(totals[c]))))));
  }

  function nenaFacts(times, requeued) {
    const facts = el("dl", { class: "facts" });
    for (const target of times.targets) {
      const share = target.seconds === 15 ? times.share_15 : times.share_20;
      const n = target.seconds === 15 ? times.within_15 : times.within_20;
      const verdict = share === null ? w("nena.none") : w(share >= target.share ? "nena.met" : "nena.not_met");
      const met = share !== null && share >= target.share;
      facts.append(
        el("dt", null, w("nena.within", { s: target.seconds })),
        el("dd", { class: share === null ? "" : (met ? "met" : "not-met") },
          w("nena.value", { share: percent(share), n: number(n), answered: number(times.answered), target: percent(target.share), verdict })));
    }
    facts.append(
      el("dt", null, w("nena.answered")), el("dd", null, number(times.answered)),
      el("dt", null, w("nena.abandoned")), el("dd", null, number(times.abandoned)),
      el("dt", null, w("nena.abandoned_ivr")), el("dd", null, number(times.abandoned_in_ivr)),
      el("dt", null, w("nena.requeued")), el("dd", { id: "requeued" }, number(requeued)),
      el("dt", null, w("nena.longest")), el("dd", null, w("seconds", { n: number(times.longest) })));
    return facts;
  }

  function countsTable(lines, head, labelled, withTotal) {
    if (!lines.length) return el("p", { class: "empty" }, w("empty"));
    const label = (line) => (labelled && line.key === "" ? w("none") : line.label);
    const rows = lines.map((line) => el("tr", { class: line.total ? "" : "zero" },
      el("th", null, label(line)), ...COLUMNS.map((c) => el("td", { class: "num" }, number(line[c])))));
    const sums = {};
    for (const c of COLUMNS) sums[c] = lines.reduce((a, line) => a + line[c], 0);
    return el("table", { class: "report-table" },
      el("thead", null, el("tr", null, el("th", null, w(head)),
        ...COLUMNS.map((c) => el("th", { class: "num" }, w("col." + c))))),
      el("tbody", null, ...rows),
      withTotal ? el("tfoot", null, el("tr", null, el("th", null, w("row.total")),
        ...COLUMNS.map((c) => el("td", { class: "num" }, number(sums[c]))))) : null);
  }

  function outcomesTable(outcomes) {
    const total = outcomes.reduce((a, o) => a + o.calls, 0);
    const known = new Set(OUTCOMES);
    return el("table", { class: "report-table" },
      el("thead", null, el("tr", null, el("th", null, w("head.outcome")),
        el("th", { class: "num" }, w("head.calls")), el("th", { class: "num" }, w("head.share")))),
      el("tbody", null, ...outcomes.map((o) => el("tr", { class: o.calls ? "" : "zero" },
        el("th", null, known.has(o.outcome) ? w("outcome." + o.outcome) : o.outcome),
        el("td", { class: "num" }, number(o.calls)),
        el("td", { class: "num" }, total ? percent(o.calls / total) : "–")))));
  }

  // ---- start ----
  const query = new URLSearchParams(window.location.search);
  const dateLike = /^\d{4}-\d{2}-\d{2}$/;
  if (dateLike.test(query.get("from") || "")) $("from").value = query.get("from");
  if (dateLike.test(query.get("to") || "")) $("to").value = query.get("to");
  $("period-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("lang-switch").addEventListener("click", () => i18n.toggle());
  i18n.onChange(() => {
    applyWords();
    render();
    if (message) say(...message);
  });
  applyWords();
  load();
})();

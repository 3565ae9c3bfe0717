// Login page: POST /api/login as JSON (no CSRF token exists yet), then the console at "/".
"use strict";

(function () {
  const { $ } = window.dom;
  const { t } = window.i18n;
  const form = $("login-form");
  const message = $("login-message");
  const submit = $("login-submit");
  let lockedUntil = 0; // performance.now() ms after which a 429 lets the operator try again
  let lockTimer = null;
  let lastMessage = null; // [key, params] so a language switch re-words it

  function show(key, params) {
    lastMessage = key ? [key, params] : null;
    message.hidden = !key;
    message.textContent = key ? t(key, params) : "";
  }

  function tickLock() {
    const left = Math.ceil((lockedUntil - performance.now()) / 1000);
    if (left > 0) {
      show("login.limited", { n: left });
      submit.disabled = true;
      return;
    }
    clearInterval(lockTimer);
    lockTimer = null;
    submit.disabled = false;
    show(null);
  }

  function lockFor(seconds) {
    lockedUntil = performance.now() + seconds * 1000;
    if (lockTimer) clearInterval(lockTimer);
    lockTimer = setInterval(tickLock, 1000);
    tickLock();
  }

  async function login(event) {
    event.preventDefault();
    if (submit.disabled) return;
    const operator = $("operator").value.trim();
    const password = $("password").value;
    submit.disabled = true;
    submit.textContent = t("login.busy");
    let response;
    try {
      response = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ operator, password }),
      });
    } catch (_) {
      response = null;
    }
    submit.textContent = t("login.submit");
    submit.disabled = false;
    if (response && response.ok) {
      window.location.assign("/");
      return;
    }
    $("password").value = "";
    if (response && response.status === 429) {
      let body = {};
      try { body = await response.json(); } catch (_) { /* no body: the header or a default */ }
      const seconds = Number(body.retry_after) || Number(response.headers.get("Retry-After")) || 30;
      lockFor(Math.max(1, Math.ceil(seconds)));
    } else if (response && response.status === 401) {
      show("login.bad");
    } else {
      show("login.error");
    }
    $("password").focus();
  }

  form.addEventListener("submit", login);
  $("lang-switch").addEventListener("click", () => window.i18n.toggle());
  window.i18n.onChange(() => {
    if (!submit.disabled) submit.textContent = t("login.submit");
    if (lastMessage) show(lastMessage[0], lastMessage[1]);
  });
  window.i18n.apply();
})();

// The pages' one way to talk to the server: a POST with the session's CSRF token (JSON only), /api/me,
// a live WebSocket that reconnects; a 401 sends the page to /login, errors go to the page's #error-line.
"use strict";

(function () {
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 5000;

  function goLogin() { window.location.replace("/login"); }

  // words(key, params) gives the page's text for error.network / error.generic; csrf() the token now.
  function createApi(csrf, words) {
    const line = () => document.getElementById("error-line");
    function showError(text) { const node = line(); node.textContent = text; node.hidden = false; }
    function clearError() { line().hidden = true; }

    async function post(path, body) {
      let response;
      try {
        response = await fetch(path, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify(body),
        });
      } catch (_) {
        showError(words("error.network"));
        return null;
      }
      if (response.status === 401) { goLogin(); return null; }
      let data = null;
      try { data = await response.json(); } catch (_) { /* no JSON body */ }
      if (!response.ok) {
        showError(words("error.generic", { detail: (data && (data.detail || data.error)) || response.status }));
        return null;
      }
      clearError();
      return data || {};
    }

    // → {ok: true, me} | {ok: false, unauthorized: bool}; a 401 sends the page to /login.
    async function fetchMe() {
      let response;
      try { response = await fetch("/api/me", { credentials: "same-origin" }); } catch (_) { return { ok: false }; }
      if (response.status === 401) { goLogin(); return { ok: false, unauthorized: true }; }
      if (!response.ok) return { ok: false };
      try { return { ok: true, me: await response.json() }; } catch (_) { return { ok: false }; }
    }

    // A WebSocket to `path` that reconnects with backoff (0.5 s doubling to 5 s). `connected(up)` on each
    // change; `resume()` before each retry: a browser hides why an upgrade was refused, so the page asks
    // /api/me whether its session lives, and says whether to go on (false: stop, e.g. sent to /login).
    function liveSocket(path, { message, connected, resume }) {
      let backoff = BACKOFF_MIN_MS;
      let socket = null;
      let up = false;
      function open() {
        const ws = new WebSocket((window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path);
        socket = ws;
        ws.addEventListener("message", (ev) => {
          if (socket !== ws) return;
          if (!up) { up = true; connected(true); }
          backoff = BACKOFF_MIN_MS; // reset only once the server really talks, not on a bare open
          message(ev.data);
        });
        ws.addEventListener("close", () => {
          if (socket !== ws) return;
          socket = null;
          up = false;
          connected(false);
          const delay = backoff;
          backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
          setTimeout(async () => { if (await resume()) open(); }, delay);
        });
      }
      open();
    }

    return Object.freeze({ post, fetchMe, showError, clearError, goLogin, liveSocket });
  }

  window.siagaApi = Object.freeze({ createApi });
})();

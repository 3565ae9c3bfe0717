// The pages' one way to talk to the server: a POST with the session's CSRF token (JSON only), /api/me,
// a 401 sends the page to /login, and errors go to the page's #error-line in its own words.
"use strict";

(function () {
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

    return Object.freeze({ post, fetchMe, showError, clearError, goLogin });
  }

  window.siagaApi = Object.freeze({ createApi });
})();

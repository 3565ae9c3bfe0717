// The one way the console builds DOM. Caller-controlled text (names, categories, reasons, notes) only
// ever reaches the page through text nodes, `.value` or an attribute from the safe list below, so a
// caller name like `<img src=x onerror=…>` stays text. Nothing here, or anywhere in the console,
// assigns innerHTML or builds markup from strings.
"use strict";

(function () {
  // Attributes a value may be written to. Event handlers, style, src/href and friends are refused:
  // those are where a string turns into code or a request.
  const SAFE_ATTRS = new Set([
    "id", "class", "type", "name", "title", "role", "for", "lang", "autocomplete", "inputmode",
    "placeholder", "rows", "cols", "min", "max", "step", "maxlength", "tabindex", "datetime",
    "aria-label", "aria-live", "aria-pressed", "aria-hidden", "aria-describedby", "aria-keyshortcuts",
  ]);
  // Set as DOM properties, not attributes, so they reflect the live state.
  const PROPS = new Set(["value", "checked", "disabled", "hidden", "htmlFor", "selected", "controls"]);

  function setAttr(node, key, val) {
    if (val === null || val === undefined || val === false) return;
    if (key === "class") {
      node.className = Array.isArray(val) ? val.filter(Boolean).join(" ") : String(val);
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(val)) node.dataset[k] = String(v);
    } else if (key === "on") {
      for (const [ev, fn] of Object.entries(val)) node.addEventListener(ev, fn);
    } else if (PROPS.has(key)) {
      node[key] = val;
    } else if (SAFE_ATTRS.has(key) || key.startsWith("data-")) {
      node.setAttribute(key, val === true ? "" : String(val));
    } else {
      throw new Error("dom.el: attribute not allowed: " + key);
    }
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      for (const c of child) append(node, c);
    } else if (child instanceof Node) {
      node.appendChild(child);
    } else {
      node.appendChild(document.createTextNode(String(child)));
    }
  }

  // el("li", {class: "x"}, "text", el("kbd", null, "3")) → <li class="x">text<kbd>3</kbd></li>
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) setAttr(node, k, v);
    append(node, children);
    return node;
  }

  // Replace all children of `node` (text or nodes), the only way a region is redrawn.
  function fill(node, ...children) {
    node.replaceChildren();
    append(node, children);
    return node;
  }

  function $(id) {
    const node = document.getElementById(id);
    if (!node) throw new Error("dom: no element #" + id);
    return node;
  }

  window.dom = Object.freeze({ el, fill, $ });
})();

// Record pages: accessible tabs (arrow keys move between tabs) and focus on the first invalid
// field after a form comes back with errors (full load or htmx swap).
(function () {
  function setupTabs(root) {
    const list = root.querySelector("[data-tabs]");
    if (!list || list.dataset.ready) return;
    list.dataset.ready = "1";
    const tabs = Array.from(list.querySelectorAll("[role=tab]"));
    const select = (tab, focus) => {
      tabs.forEach((t) => {
        const on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (e) => {
        const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
        if (e.key in moves) {
          e.preventDefault();
          select(tabs[(moves[e.key] + tabs.length) % tabs.length], true);
        }
      });
    });
    select(tabs.find((t) => t.getAttribute("aria-selected") === "true") || tabs[0], false);
  }

  function focusFirstError(root) {
    const bad = root.querySelector("[aria-invalid=true]");
    if (bad) bad.focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupTabs(document);
    focusFirstError(document);
  });
  document.addEventListener("htmx:afterSwap", (e) => {
    setupTabs(document);
    // Only a refused form (422, or 413 for a too-large upload) moves the focus.
    if ([413, 422].includes(e.detail.xhr.status)) focusFirstError(document);
  });
})();

// The lead list by keyboard: "/" focuses the search; ArrowUp/ArrowDown or k/j move between
// rows (one tab stop: a roving tabindex); Enter opens the focused lead.
(() => {
  const rows = () => Array.from(document.querySelectorAll("#lead-rows tr[data-href]"));
  const typing = (el) => el.closest && el.closest("input, select, textarea, [contenteditable=true]");

  function focusRow(row) {
    if (!row) return;
    rows().forEach((r) => r.setAttribute("tabindex", r === row ? "0" : "-1"));
    row.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const search = document.getElementById("q");
    if (event.key === "/" && !typing(event.target) && search) {
      event.preventDefault();
      search.focus();
      search.select();
      return;
    }
    // From the search box, ArrowDown goes to the first result.
    if (event.target === search && event.key === "ArrowDown") {
      event.preventDefault();
      focusRow(rows()[0]);
      return;
    }
    const row = event.target.closest && event.target.closest("#lead-rows tr[data-href]");
    if (!row || event.target !== row) return;
    const all = rows();
    const at = all.indexOf(row);
    const moves = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 };
    if (event.key in moves && !event.shiftKey) {  // Shift+arrow extends the selection (selection.js)
      event.preventDefault();
      const next = all[at + moves[event.key]];
      if (next) focusRow(next);
      else if (moves[event.key] < 0 && search) search.focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      focusRow(event.key === "Home" ? all[0] : all[all.length - 1]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      window.location.assign(row.dataset.href);
    } else if (event.key === "c") {
      // The row's last-step action: open the conversion modal (C8.3).
      const convert = row.querySelector(".cell-actions a");
      if (convert) {
        event.preventDefault();
        convert.click();
      }
    }
  });

  // A click anywhere on a row opens it, like its name link (text selection is left alone).
  document.addEventListener("click", (event) => {
    const row = event.target.closest && event.target.closest("#lead-rows tr[data-href]");
    if (!row || event.target.closest("a, button, td.cell-select") || String(window.getSelection())) return;
    window.location.assign(row.dataset.href);
  });

  // "Load more" replaces itself with rows: keep the keyboard user where they were going.
  let firstNew = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.matches && event.detail.elt.matches(".load-more")) {
      firstNew = rows().length;
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (firstNew !== null) {
      const row = rows()[firstNew];
      firstNew = null;
      if (row && document.activeElement === document.body) focusRow(row);
    }
  });
})();

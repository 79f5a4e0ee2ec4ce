// Keyboard navigation of list rows (shared by the record lists): ArrowDown/j and ArrowUp/k
// move between rows, Enter opens the focused row, "/" focuses the search box.
// Delegated on document so it keeps working after htmx swaps the rows.
(() => {
  const rowsOf = (table) => Array.from(table.querySelectorAll("tbody tr[data-href]"));

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "/" && !typing) {
      const search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    const row = event.target.closest("table[data-rows] tbody tr[data-href]");
    const table = document.querySelector("table[data-rows]");
    if (!table || typing) return;
    const rows = rowsOf(table);
    if (!rows.length) return;
    const index = row ? rows.indexOf(row) : -1;
    let next = null;
    if (event.key === "ArrowDown" || event.key === "j") next = rows[Math.min(index + 1, rows.length - 1)];
    else if (event.key === "ArrowUp" || event.key === "k") next = rows[Math.max(index - 1, 0)];
    else if (event.key === "Enter" && row && event.target === row) {
      event.preventDefault();
      window.location.assign(row.dataset.href);
      return;
    }
    if (next) { event.preventDefault(); next.focus(); }
  });

  // A click anywhere on a row opens it (the name stays a real link for middle-click etc.).
  document.addEventListener("click", (event) => {
    const row = event.target.closest("table[data-rows] tbody tr[data-href]");
    if (!row || event.target.closest("a, button, input, select")) return;
    window.location.assign(row.dataset.href);
  });
})();

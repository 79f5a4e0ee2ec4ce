// The lead list's selection (C8.3), for bulk conversion: a checkbox per row; by keyboard on a
// focused row, Space or x toggles it, Shift+ArrowDown/ArrowUp (or Shift+j/k) extends the
// selection to the next row, "a" selects (or clears) the whole page, Escape clears, "?" lists
// the shortcuts. The selection bar (#selection-bar, leads/_selection.html) says how many are
// selected and offers "select all N leads matching this filter": then the filter, not a list
// of ids, is what the bulk panel receives, and the job converts what it matches when it starts.
//
// The selection survives "Load more" and live-search refreshes: it is kept in sessionStorage
// (per tab), ids as strings; "all matching" is tied to the filter it was chosen under and
// dropped when the filter changes. Sentences come translated from the bar's data- attributes
// ({n} standing for a number); plurals follow <html lang>.
(() => {
  const STORE = "leadway:lead-selection";
  const bar = () => document.getElementById("selection-bar");
  const rows = () => Array.from(document.querySelectorAll("#lead-rows tr[data-href]"));
  const boxOf = (row) => row.querySelector("input.row-select");
  const lang = () => document.documentElement.lang || undefined;
  // The filter: the list's query string without the paging cursor.
  const currentFilter = () => {
    const params = new URLSearchParams(window.location.search);
    params.delete("cursor");
    params.sort();
    return params.toString();
  };

  function load() {
    try {
      const saved = JSON.parse(window.sessionStorage.getItem(STORE) || "{}");
      return { ids: new Set(saved.ids || []), all: Boolean(saved.all), filter: saved.filter || "" };
    } catch { return { ids: new Set(), all: false, filter: "" }; }
  }
  let state = load();

  function save() {
    window.sessionStorage.setItem(STORE, JSON.stringify({ ids: [...state.ids], all: state.all, filter: state.filter }));
  }

  const number = (n) => new Intl.NumberFormat(lang()).format(n);
  const say = (key, n) => (bar().dataset[key] || "{n}").replace("{n}", number(n));
  const plural = (one, other, n) => say(new Intl.PluralRules(lang()).select(n) === "one" ? one : other, n);

  function total() {
    const head = document.querySelector("[data-total]");
    return head ? { n: Number(head.dataset.total), exact: head.dataset.totalExact === "true" } : null;
  }

  function announce(text) {
    const live = document.getElementById("selection-live");
    if (!live) return;
    live.textContent = "";
    window.setTimeout(() => { live.textContent = text; }, 50);
  }

  // Checkboxes, the page checkbox and the bar from the state.
  function render() {
    if (!bar()) return;
    if (state.all && state.filter !== currentFilter()) state.all = false;  // another filter
    const visible = rows();
    visible.forEach((row) => {
      const box = boxOf(row);
      if (!box) return;
      box.checked = state.all || state.ids.has(box.value);
      row.classList.toggle("is-selected", box.checked);
      row.setAttribute("aria-selected", box.checked ? "true" : "false");
    });
    const page = document.getElementById("select-page");
    const onPage = visible.filter((r) => boxOf(r) && boxOf(r).checked).length;
    if (page) {
      page.checked = visible.length > 0 && onPage === visible.length;
      page.indeterminate = onPage > 0 && onPage < visible.length;
    }
    const found = total();
    const count = state.all && found ? found.n : state.ids.size;
    const b = bar();
    b.hidden = count === 0;
    b.querySelector("[data-selection-count]").textContent = state.all
      ? (found && found.exact ? plural("allOne", "allOther", count) : say("allSome", count))
      : plural("selectedOne", "selectedOther", count);
    const offer = b.querySelector("[data-select-matching]");
    const more = found && !state.all && visible.length > 0 && onPage === visible.length && found.n > visible.length;
    offer.hidden = !more;
    if (more) offer.textContent = found.exact ? plural("matchingOne", "matchingOther", found.n) : say("matchingSome", found.n);
    save();
  }

  function setRow(row, on) {
    const box = boxOf(row);
    if (!box) return;
    if (state.all && !on) {
      // Leaving "all matching": keep what is on screen, minus this row.
      state.all = false;
      rows().forEach((r) => boxOf(r) && state.ids.add(boxOf(r).value));
    }
    if (on) state.ids.add(box.value); else state.ids.delete(box.value);
  }

  function clear() {
    state = { ids: new Set(), all: false, filter: "" };
    render();
    announce(say("cleared", 0));
  }

  function togglePage() {
    const visible = rows().filter(boxOf);
    const on = !visible.every((r) => boxOf(r).checked);
    visible.forEach((r) => setRow(r, on));
    render();
    announce(bar().querySelector("[data-selection-count]").textContent);
  }

  // The anchor of a Shift-click range: the last row toggled by hand.
  let anchor = null;

  document.addEventListener("click", (event) => {
    const box = event.target.closest && event.target.closest("#lead-rows input.row-select");
    if (box) {
      const row = box.closest("tr");
      const all = rows();
      if (event.shiftKey && anchor && all.includes(anchor)) {
        const [from, to] = [all.indexOf(anchor), all.indexOf(row)].sort((x, y) => x - y);
        all.slice(from, to + 1).forEach((r) => setRow(r, box.checked));
      } else {
        setRow(row, box.checked);
      }
      anchor = row;
      render();
      return;
    }
    if (event.target.closest("#select-page")) { togglePage(); return; }
    if (event.target.closest("[data-select-matching]")) {
      state.all = true;
      state.filter = currentFilter();
      render();
      announce(bar().querySelector("[data-selection-count]").textContent);
      return;
    }
    if (event.target.closest("[data-clear-selection]")) clear();
  });

  // A click on a row's checkbox cell does not open the lead: leads.js leaves td.cell-select alone
  // (a capturing stopPropagation here would also stop the click handler above).

  const typing = (el) => el.closest && el.closest("input:not(.row-select), select, textarea, [contenteditable=true]");

  document.addEventListener("keydown", (event) => {
    if (!bar() || event.ctrlKey || event.metaKey || event.altKey) return;
    const shortcuts = document.getElementById("shortcuts");
    if (event.key === "?" && !typing(event.target) && shortcuts) {
      event.preventDefault();
      shortcuts.showModal();
      return;
    }
    const row = event.target.closest && event.target.closest("#lead-rows tr[data-href]");
    if (!row || event.target !== row) {
      if (event.key === "Escape" && !typing(event.target) && (state.ids.size || state.all)
          && !document.querySelector("dialog[open]")) clear();
      return;
    }
    const all = rows();
    const at = all.indexOf(row);
    if (event.key === " " || event.key === "x") {
      event.preventDefault();
      const box = boxOf(row);
      if (!box) return;
      setRow(row, !box.checked);
      anchor = row;
      render();
      announce(`${row.getAttribute("aria-label")}: ${boxOf(row).checked ? bar().dataset.on : bar().dataset.off}`);
    } else if (event.shiftKey && ["ArrowDown", "ArrowUp", "J", "K"].includes(event.key)) {
      event.preventDefault();
      const next = all[at + (event.key === "ArrowDown" || event.key === "J" ? 1 : -1)];
      if (!next) return;
      setRow(row, true);
      setRow(next, true);
      render();
      all.forEach((r) => r.setAttribute("tabindex", r === next ? "0" : "-1"));
      next.focus();
      announce(bar().querySelector("[data-selection-count]").textContent);
    } else if (event.key === "a") {
      event.preventDefault();
      togglePage();
    } else if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      event.preventDefault();
      clear();
    }
  });

  // Rows swapped in (live search, filters) or appended ("Load more"): show the selection.
  document.addEventListener("htmx:afterSettle", render);
  document.addEventListener("DOMContentLoaded", render);
  window.addEventListener("popstate", render);

  // The bulk panel: the selection as ids, or as the filter it was chosen under.
  window.leadSelection = () => (state.all ? { filter: state.filter } : { ids: [...state.ids] });
  document.addEventListener("click", (event) => {
    const open = event.target.closest && event.target.closest("[data-bulk-convert]");
    if (!open || !window.htmx) return;
    event.preventDefault();
    const values = state.all ? { selection: "filter", filter: state.filter } : { selection: "ids", ids: [...state.ids].join(",") };
    htmx.ajax("POST", open.dataset.url, { source: open, target: "#modal-body", values });
  });
})();

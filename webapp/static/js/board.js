// The lead board: drag a card to another column (SortableJS), or by keyboard: Space picks a
// card up, ArrowLeft/ArrowRight choose a column, Space (or Enter) drops it there, Escape puts
// it back. A drop is ONE status change on the server (POST leads.move): moving through
// intermediate columns by keyboard does not change the status of each one on the way (that
// would fire "enters status" rules for statuses the lead never meant to enter).
// Focus: one tab stop per column (a roving tabindex): Tab goes from column to column, the
// arrow keys move between cards (Up/Down, Home/End within a column, Left/Right across).
// Selection (C8.2): a checkbox on each card, or x on the focused card; Escape (nothing picked
// up) clears it. A selected card dropped on "Converted" while 2 or more are selected opens the
// bulk panel for all of them (as the list's Convert… does); a single card, its own modal.
(() => {
  const boardEl = () => document.getElementById("board");
  const lists = () => Array.from(document.querySelectorAll("#board .board-cards"));
  const canMove = () => boardEl() && boardEl().dataset.canMove === "true";
  // The sentences come translated from the page (data-msg-* on #board, with {name},
  // {column} and {message} slots): no English in the script.
  const say = (key, slots) => (boardEl().dataset[key] || "")
    .replace(/\{(\w+)\}/g, (whole, slot) => (slot in slots ? slots[slot] : whole));

  function announce(message) {
    const live = document.getElementById("board-live");
    live.textContent = "";
    // A fresh text node after a tick, so that repeating the same message is read again.
    window.setTimeout(() => { live.textContent = message; }, 50);
  }

  function flash(message, kind) {
    const box = document.getElementById("flashes");
    const div = document.createElement("div");
    div.className = `flash flash-${kind}`;
    div.setAttribute("role", kind === "error" ? "alert" : "status");
    div.textContent = message;
    box.replaceChildren(div);
    if (kind !== "error") window.setTimeout(() => div.remove(), 4000);
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"]; }
    catch { return ""; }
  }

  // Cards stay above the "load more" sentinel, which must remain the last item.
  function place(card, list, before) {
    const sentinel = list.querySelector(":scope > .board-more");
    list.insertBefore(card, before && before.parentNode === list ? before : sentinel);
  }

  // The roving tabindex: in each column exactly one card (the last one focused there, else
  // the first) has tabindex 0, every other card -1.
  const cardsOf = (list) => Array.from(list.querySelectorAll(":scope > .board-card"));

  function rove(card) {
    cardsOf(card.parentNode).forEach((c) => { c.tabIndex = c === card ? 0 : -1; });
  }

  function normalizeStops() {
    lists().forEach((list) => {
      const cards = cardsOf(list);
      const stops = cards.filter((c) => c.tabIndex === 0);
      if (stops.length === 1) return;
      const keep = stops.includes(document.activeElement) ? document.activeElement : (stops[0] || cards[0]);
      cards.forEach((c) => { c.tabIndex = c === keep ? 0 : -1; });
    });
  }

  document.addEventListener("focusin", (event) => {
    const card = event.target.closest && event.target.closest("#board .board-card");
    if (card && event.target === card) rove(card);
    if (card) normalizeStops();
  });
  document.addEventListener("DOMContentLoaded", normalizeStops);
  // Filters swap the columns, and "load more" appends cards (rendered with tabindex -1).
  document.addEventListener("htmx:afterSettle", () => { if (boardEl()) { normalizeStops(); showSelection(); } });

  // The selection: lead ids (strings), kept here so that it outlives the cards on screen (the
  // filters swap the columns, "load more" adds cards): showSelection() puts it back on them.
  const selected = new Set();
  const selectionBar = () => document.getElementById("board-selection");
  const lang = () => document.documentElement.lang || undefined;
  const counted = (key, n) => {
    const form = new Intl.PluralRules(lang()).select(n) === "one" ? "One" : "Other";
    return (selectionBar().dataset[key + form] || "{n}").replace("{n}", new Intl.NumberFormat(lang()).format(n));
  };

  function showSelection() {
    const bar = selectionBar();
    if (!bar) return;
    document.querySelectorAll("#board .board-card").forEach((card) => {
      const on = selected.has(card.dataset.id);
      card.classList.toggle("is-selected", on);
      const box = card.querySelector("input.board-select");
      if (box) box.checked = on;
    });
    bar.hidden = selected.size === 0;
    bar.querySelector("[data-selection-count]").textContent = counted("selected", selected.size);
  }

  function select(card, on) {
    if (on) selected.add(card.dataset.id); else selected.delete(card.dataset.id);
    showSelection();
  }

  function clearSelection() {
    selected.clear();
    showSelection();
    announce(selectionBar().dataset.cleared);
  }

  // The bulk panel in the modal, for the selected ids: the list's way (selection.js).
  function convertSelection() {
    const open = document.querySelector("#board-selection [data-board-convert]");
    if (!open || !window.htmx || !selected.size) return;
    announce(counted("panel", selected.size));
    htmx.ajax("POST", open.dataset.url, { source: open, target: "#modal-body",
                                          values: { selection: "ids", ids: [...selected].join(",") } });
  }

  document.addEventListener("change", (event) => {
    const box = event.target.closest && event.target.closest("#board input.board-select");
    if (box) select(box.closest(".board-card"), box.checked);
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest) return;
    if (event.target.closest("#board-selection [data-board-clear]")) clearSelection();
    else if (event.target.closest("#board-selection [data-board-convert]")) convertSelection();
  });
  document.addEventListener("DOMContentLoaded", showSelection);

  function updateCounts(counts) {
    document.querySelectorAll("#board [data-count-for]").forEach((el) => {
      el.textContent = (counts[el.dataset.countFor] || 0).toLocaleString(document.documentElement.lang || "en");
    });
  }

  async function save(card, from, oldNext) {
    const list = card.parentNode;
    const body = new URLSearchParams({ status: list.dataset.status });
    const filters = document.querySelector("form.board-toolbar");
    if (filters) new FormData(filters).forEach((v, k) => { if (v) body.append(k, v); });
    card.classList.add("is-saving");
    let response = null;
    let data = null;
    try {
      response = await fetch(card.dataset.moveUrl, {
        method: "POST", body, credentials: "same-origin", redirect: "error",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      data = await response.json().catch(() => null);
    } catch { response = null; }
    card.classList.remove("is-saving");
    if (response && response.ok && data) {
      updateCounts(data.counts);
      // C8.6: a rule of that status converted the lead: it leaves the board (and the selection).
      if (data.converted) leave(card);
      if (data.converted || data.rule_refused) flash(data.message, data.converted ? "success" : "warning");
      announce(data.message);
      return true;
    }
    place(card, from, oldNext);
    const message = (data && data.message) || say("msgSaveFailed", {});
    flash(message, "error");
    announce(say("msgWentBack", { message, column: from.dataset.label }));
    card.focus();
    return false;
  }

  // A card gone from the board: focus goes to its neighbour (or the first card of the board).
  function leave(card) {
    const near = [card.nextElementSibling, card.previousElementSibling].find((c) => c && c.matches(".board-card"));
    const hadFocus = document.activeElement === card;
    card.remove();
    selected.delete(card.dataset.id);
    showSelection();
    normalizeStops();
    const next = near || document.querySelector("#board .board-card");
    if (hadFocus && next) next.focus();
  }

  // C8.2: a card dropped on the "Converted" column goes back to its own column and opens its
  // conversion modal (the modal converts it, or the person closes it and nothing changed).
  // One of 2 or more selected cards: they all stay where they are, the bulk panel opens.
  const isConvert = (list) => list.hasAttribute("data-convert");

  function convert(card, from, oldNext) {
    place(card, from, oldNext);
    card.focus();
    if (selected.size > 1 && selected.has(card.dataset.id)) {
      convertSelection();
      return;
    }
    announce(say("msgConverting", { name: card.dataset.name }));
    if (window.htmx) htmx.ajax("GET", card.dataset.convertUrl, { target: "#modal-body" });
    else window.location.assign(card.dataset.convertUrl);
  }

  function dropped(card, from, oldNext) {
    if (isConvert(card.parentNode)) convert(card, from, oldNext);
    else save(card, from, oldNext);
  }

  // Mouse and touch: SortableJS, one shared group so cards move between columns.
  function initSortables(root) {
    if (!canMove() || typeof Sortable === "undefined") return;
    root.querySelectorAll(".board-cards").forEach((list) => {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: "leads", draggable: ".board-card", animation: 150, forceFallback: true,
        filter: ".board-pick", preventOnFilter: false, // the checkbox selects, it does not drag
        ghostClass: "sortable-ghost", dragClass: "is-dragging",
        onEnd: (event) => {
          if (event.to === event.from) return;
          place(event.item, event.to, event.item.nextElementSibling);
          dropped(event.item, event.from, event.from.children[event.oldIndex]);
        },
      });
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    if (window.htmx) htmx.onLoad(initSortables);
    else initSortables(document);
  });

  // Keyboard.
  let grabbed = null; // {card, from, next}

  function drop(cancel) {
    const { card, from, next } = grabbed;
    grabbed = null;
    card.classList.remove("is-grabbed");
    card.setAttribute("aria-grabbed", "false");
    document.querySelectorAll(".board-column.is-target").forEach((c) => c.classList.remove("is-target"));
    if (cancel || card.parentNode === from) {
      place(card, from, next);
      card.focus();
      announce(say(cancel ? "msgCancelled" : "msgDroppedBack", { name: card.dataset.name, column: from.dataset.label }));
      return;
    }
    card.focus();
    dropped(card, from, next);
  }

  function focusIn(list, index) {
    const cards = Array.from(list.querySelectorAll(":scope > .board-card"));
    const card = cards[Math.min(index, cards.length - 1)];
    if (card) card.focus();
    return Boolean(card);
  }

  document.addEventListener("keydown", (event) => {
    const card = event.target.closest && event.target.closest("#board .board-card");
    if (!card || event.target !== card || event.ctrlKey || event.metaKey || event.altKey) return;
    const all = lists();
    const list = card.parentNode;
    const at = all.indexOf(list);
    const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (grabbed) {
      if (step) {
        event.preventDefault();
        const target = all[at + step];
        if (!target) return;
        place(card, target, target.querySelector(":scope > .board-card"));
        document.querySelectorAll(".board-column.is-target").forEach((c) => c.classList.remove("is-target"));
        target.closest(".board-column").classList.add("is-target");
        card.focus();
        announce(say("msgOver", { column: target.dataset.label }));
      } else if (event.key === " " || event.key === "Enter") {
        event.preventDefault();
        drop(false);
      } else if (event.key === "Escape" || event.key === "Tab") {
        if (event.key === "Escape") event.preventDefault();
        drop(true);
      }
      return;
    }
    const cards = Array.from(list.querySelectorAll(":scope > .board-card"));
    const index = cards.indexOf(card);
    if (event.key === "x" && !event.shiftKey) {
      event.preventDefault();
      select(card, !selected.has(card.dataset.id));
      const bar = selectionBar().dataset;
      announce(`${card.dataset.name}: ${selected.has(card.dataset.id) ? bar.on : bar.off}. ${counted("selected", selected.size)}`);
    } else if (event.key === " " && canMove()) {
      event.preventDefault();
      grabbed = { card, from: list, next: card.nextElementSibling };
      card.classList.add("is-grabbed");
      card.setAttribute("aria-grabbed", "true");
      announce(say("msgPickedUp", { name: card.dataset.name, column: list.dataset.label }));
    } else if (event.key === "Enter") {
      event.preventDefault();
      window.location.assign(card.dataset.href);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = cards[index + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) next.focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      const next = event.key === "Home" ? cards[0] : cards[cards.length - 1];
      if (next) next.focus();
    } else if (step) {
      // Focus the nearest card in the next non-empty column that way.
      event.preventDefault();
      for (let i = at + step; i >= 0 && i < all.length; i += step) {
        if (focusIn(all[i], index)) break;
      }
    }
  });

  // Escape with no card picked up (the pick-up's Escape is handled, default prevented, above)
  // and no dialog open clears the selection, wherever the focus is but in a field.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || grabbed || !selected.size || !boardEl()) return;
    if (document.querySelector("dialog[open]") || event.target.closest("input:not(.board-select), select, textarea")) return;
    event.preventDefault();
    clearSelection();
  });

  // Clicking a card (not dragging it, nor clicking its checkbox) opens the lead.
  document.addEventListener("click", (event) => {
    const card = event.target.closest && event.target.closest("#board .board-card");
    if (card && !event.target.closest("a, .board-pick")) window.location.assign(card.dataset.href);
  });
})();

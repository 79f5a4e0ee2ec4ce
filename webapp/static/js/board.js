// The lead board: drag a card to another column (SortableJS), or by keyboard: Space picks a
// card up, ArrowLeft/ArrowRight choose a column, Space (or Enter) drops it there, Escape puts
// it back. A drop is ONE status change on the server (POST leads.move): moving through
// intermediate columns by keyboard does not change the status of each one on the way (that
// would fire "enters status" rules for statuses the lead never meant to enter).
// Focus: one tab stop per column (a roving tabindex): Tab goes from column to column, the
// arrow keys move between cards (Up/Down, Home/End within a column, Left/Right across).
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
  document.addEventListener("htmx:afterSettle", () => { if (boardEl()) normalizeStops(); });

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

  // C8.2: a card dropped on the "Converted" column goes back to its own column and opens its
  // conversion modal (the modal converts it, or the person closes it and nothing changed).
  const isConvert = (list) => list.hasAttribute("data-convert");

  function convert(card, from, oldNext) {
    place(card, from, oldNext);
    card.focus();
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
    if (event.key === " " && canMove()) {
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

  // Clicking a card (not dragging it) opens the lead.
  document.addEventListener("click", (event) => {
    const card = event.target.closest && event.target.closest("#board .board-card");
    if (card && !event.target.closest("a")) window.location.assign(card.dataset.href);
  });
})();

// The app's own behaviour: the modal dialog driven by htmx. Page-specific scripts live beside it.
document.addEventListener("htmx:afterSwap", (event) => {
  // A fragment swapped into the modal body opens the dialog and focuses its first field.
  if (event.detail.target.id === "modal-body") {
    const dialog = document.getElementById("modal");
    if (!dialog.open) dialog.showModal();
    const first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button");
    if (first) first.focus();
  }
});
document.addEventListener("closeModal", () => {
  const dialog = document.getElementById("modal");
  if (dialog.open) dialog.close();
});
document.addEventListener("click", (event) => {
  if (event.target.matches("[data-close-modal]")) document.getElementById("modal").close();
});

// Lists: after the filter bar's results are swapped in, say what they hold in the status line
// that stays outside them (#results-status, macros/filters.html), "no match" included. The
// results name it with [data-result-summary]; record lists are counted from their rows. The
// sentence comes translated from the filter bar (data-shown-one / data-shown-other, "{n}"
// standing for the count); the plural form follows the page's language (<html lang>).
document.addEventListener("htmx:afterSettle", (event) => {
  const form = document.querySelector("form[data-results]");
  const status = document.getElementById("results-status");
  if (!form || !status) return;
  const results = document.querySelector(form.dataset.results);
  if (!results || event.detail.target !== results) return;
  const summary = results.querySelector("[data-result-summary]");
  let text;
  if (summary) {
    text = summary.textContent.replace(/\s+/g, " ").trim();
  } else {
    const empty = results.querySelector(".empty-state p");
    const n = results.querySelectorAll("tr[data-href]").length;
    const more = results.querySelector(".more-row, .load-more-row");
    const lang = document.documentElement.lang || undefined;
    const one = !more && new Intl.PluralRules(lang).select(n) === "one";
    const count = `${new Intl.NumberFormat(lang).format(n)}${more ? "+" : ""}`;
    const sentence = (one ? form.dataset.shownOne : form.dataset.shownOther) || "{n}";
    text = empty ? empty.textContent.trim() : sentence.replace("{n}", count);
  }
  // Cleared first, then set after a tick: the same text twice in a row is read again.
  status.textContent = "";
  window.setTimeout(() => { status.textContent = text; }, 100);
});

// A filter bar fires on "change" (its selects and checkboxes); its search field fires on its
// own ("input changed delay:250ms, search"). The search field's change is stopped here, before
// it reaches the form, so the form's trigger needs no filter expression (htmx would compile one
// with Function(), which the Content-Security-Policy forbids: no 'unsafe-eval').
document.addEventListener("change", (event) => {
  if (event.target.matches("form[hx-get] input[type=search]")) event.stopPropagation();
}, true);

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

// The job page (C8.5): Cancel asks first (the form's data-confirm, translated by the template).
// No inline handlers: the CSP allows scripts from this site only.
document.addEventListener("submit", (event) => {
  const form = event.target.closest && event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

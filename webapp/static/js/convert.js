// The conversion modal: stage choices follow the pipeline, refusals (403) show inside the modal,
// and after a failed submit the first invalid field gets the focus. Loaded by the modal fragment.
if (!window.convertModal) {
  window.convertModal = true;

  document.addEventListener("change", (event) => {
    // C5.1: the stage list is the chosen pipeline's stages.
    if (event.target.id !== "deal_pipeline_id") return;
    const stage = document.getElementById("deal_stage");
    const stages = JSON.parse(stage.dataset.stages || "{}")[event.target.value] || [];
    const first = stage.options[0];
    stage.replaceChildren(first, ...stages.map((name) => new Option(name, name)));
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    // A refused conversion (403: rights, hidden duplicates) is a message for the person, in the modal.
    if (event.detail.target.id === "modal-body" && event.detail.xhr.status === 403) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "modal-body") return;
    const invalid = event.detail.target.querySelector("[aria-invalid=true], .has-error input");
    if (invalid) invalid.focus();
  });
}

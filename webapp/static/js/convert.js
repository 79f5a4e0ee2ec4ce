// The conversion modal: stage choices follow the pipeline; the live preview's field errors are put
// next to their fields (all at once, never as an alert while the person types: a polite status
// line says how many); closing a modal whose fields were changed asks first (Esc, Cancel, ×);
// refusals (403) show inside the modal; after a failed submit the first invalid field gets the focus.
if (!window.convertModal) {
  window.convertModal = true;
  let typingIn = null;

  const formOf = () => document.getElementById("convert-form");
  const serialize = (form) => {
    const data = new FormData(form);
    data.delete("csrf_token");
    return new URLSearchParams(data).toString();
  };
  const remember = (form) => { if (form) form.dataset.snapshot = serialize(form); };
  const isDirty = (form) => form.dataset.edited === "true" || serialize(form) !== form.dataset.snapshot;

  // --- field errors from the preview ------------------------------------------------------
  const controls = (form, name) => Array.from(form.querySelectorAll(`[name="${CSS.escape(name)}"]`))
    .filter((c) => c.type !== "hidden");
  const container = (form, name) => {
    const first = controls(form, name)[0];
    return first && (first.closest(".choice-group") || first.closest(".field"));
  };
  const setError = (form, name, text) => {
    const box = container(form, name);
    if (!box) return;
    let el = document.getElementById(`${name}-error`);
    if (!el) {
      el = document.createElement("div");
      el.className = "field-error";
      el.id = `${name}-error`;
      box.appendChild(el);
    }
    el.removeAttribute("role"); // announced by the polite status line, not as an alert
    el.textContent = text;
    box.classList.add("has-error");
    for (const c of controls(form, name)) {
      c.setAttribute("aria-invalid", "true");
      c.setAttribute("aria-describedby", el.id);
    }
  };
  const clearError = (form, name) => {
    const el = document.getElementById(`${name}-error`);
    if (el) el.remove();
    const box = container(form, name);
    if (box) box.classList.remove("has-error");
    for (const c of controls(form, name)) {
      c.setAttribute("aria-invalid", "false");
      c.removeAttribute("aria-describedby");
    }
  };
  const applyErrors = (form, errors) => {
    // A field being typed in loses a fixed error at once but gets a new one only when left.
    const typing = typingIn && document.activeElement === typingIn ? typingIn.name : null;
    for (const el of form.querySelectorAll(".field-error[id$='-error']")) {
      const name = el.id.slice(0, -"-error".length);
      if (!(name in errors)) clearError(form, name);
    }
    for (const [name, messages] of Object.entries(errors)) {
      if (name === typing && !document.getElementById(`${name}-error`)) continue;
      setError(form, name, messages.join(" "));
    }
  };

  document.addEventListener("input", (event) => {
    if (event.target.closest && event.target.closest("#convert-form")
        && event.target.matches("input:not([type]), input[type=text], input[type=email], textarea")) {
      typingIn = event.target;
    }
  });
  document.addEventListener("focusout", (event) => { if (event.target === typingIn) typingIn = null; });

  document.addEventListener("change", (event) => {
    // C5.1: the stage list is the chosen pipeline's stages.
    if (event.target.id !== "deal_pipeline_id") return;
    const stage = document.getElementById("deal_stage");
    const stages = JSON.parse(stage.dataset.stages || "{}")[event.target.value] || [];
    const first = stage.options[0];
    // Each stage is [stored name, name in the reader's language].
    stage.replaceChildren(first, ...stages.map(([name, label]) => new Option(label, name)));
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    // A refused conversion (403: rights, hidden duplicates) is a message for the person, in the modal.
    if (event.detail.target.id === "modal-body" && event.detail.xhr.status === 403) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target.id === "convert-preview") {
      const form = formOf();
      const state = target.querySelector("#pv-state");
      if (!form || !state) return;
      applyErrors(form, JSON.parse(state.dataset.errors || "{}"));
      const status = document.getElementById("preview-status");
      if (status) {
        status.textContent = "";
        window.setTimeout(() => { status.textContent = state.dataset.summary || ""; }, 50);
      }
      return;
    }
    if (target.id === "modal-body") remember(target.querySelector("#convert-form"));
  });

  // After app.js opened the dialog: the first invalid field after a refused submit, else the
  // first choice (not the close button, first in the markup).
  const focusFirst = (root) => {
    const form = root && root.querySelector("#convert-form");
    if (!form) return;
    const first = form.querySelector("[aria-invalid=true], .has-error input")
      || form.querySelector(".convert-options input:not([type=hidden]), .convert-options select");
    if (first) first.focus();
  };
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target.id === "modal-body") focusFirst(event.detail.target);
  });

  // --- closing: ask before discarding changes ---------------------------------------------
  const confirmBox = (form) => form.querySelector("#convert-confirm");
  const closeDialog = () => {
    const dialog = document.getElementById("modal");
    if (dialog && dialog.open) dialog.close();
  };
  const askDiscard = (form) => {
    const box = confirmBox(form);
    box.dataset.returnTo = document.activeElement && document.activeElement.id ? document.activeElement.id : "";
    box.hidden = false;
    form.classList.add("is-confirming");
    box.querySelector("[data-keep-editing]").focus();
  };
  const keepEditing = (form) => {
    const box = confirmBox(form);
    box.hidden = true;
    form.classList.remove("is-confirming");
    const back = box.dataset.returnTo && document.getElementById(box.dataset.returnTo);
    (back || form.querySelector("input:not([type=hidden]), select")).focus();
  };
  const discard = (form) => {
    confirmBox(form).hidden = true;
    form.classList.remove("is-confirming");
    form.dataset.edited = "false";
    remember(form);
    closeDialog();
  };
  const requestClose = (form) => {
    if (isDirty(form)) askDiscard(form);
    else closeDialog();
  };

  document.addEventListener("click", (event) => {
    const form = event.target.closest && event.target.closest("#convert-form");
    if (!form) return;
    if (event.target.closest("[data-keep-editing]")) return keepEditing(form);
    if (event.target.closest("[data-discard]")) return discard(form);
    if (event.target.closest("[data-close-modal]")) {
      // Handled here (before app.js closes the dialog): a changed form asks first.
      event.preventDefault();
      event.stopPropagation();
      requestClose(form);
    }
  }, true);

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const dialog = document.getElementById("modal");
    const form = dialog && dialog.open ? dialog.querySelector("#convert-form") : null;
    if (!form) return;
    if (!confirmBox(form).hidden) {
      event.preventDefault();
      keepEditing(form);
    } else if (isDirty(form)) {
      event.preventDefault(); // no close request: the dialog stays open and asks
      askDiscard(form);
    }
  }, true);

  document.addEventListener("cancel", (event) => {
    // The dialog's own close request (Esc, or a platform back gesture) when keydown did not stop it.
    const form = event.target.id === "modal" ? event.target.querySelector("#convert-form") : null;
    if (form && isDirty(form)) {
      event.preventDefault();
      if (confirmBox(form).hidden) askDiscard(form);
    }
  }, true);

  // This script arrives with the first modal: settle that one too (snapshot, focus).
  remember(formOf());
  window.setTimeout(() => {
    const dialog = document.getElementById("modal");
    if (dialog && dialog.open) focusFirst(dialog);
  }, 0);
}

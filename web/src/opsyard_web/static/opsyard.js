// opsyard web shell: the little behaviour htmx does not cover. No dependencies.
"use strict";

// Copy buttons: <button data-copy-target="id"> copies the value of the element with that id.
// Delegated from the document so buttons swapped in by htmx work without re-binding.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent;
  // Kept to restore: the label may carry visually hidden words ("Copy<span> URL</span>").
  button.dataset.label ??= button.innerHTML;
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => { button.innerHTML = button.dataset.label; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => source.select && source.select());
  } else if (source.select) {
    // Without the clipboard API (plain http), select the text so Ctrl+C copies it.
    source.select();
  }
});

// After an in-page swap, move focus to the first alert so keyboard and screen-reader users
// learn what happened without hunting for it.
document.addEventListener("htmx:afterSwap", (event) => {
  const alert = event.detail.target.querySelector?.('[role="alert"]');
  if (alert) {
    alert.setAttribute("tabindex", "-1");
    alert.focus({ preventScroll: false });
  }
});

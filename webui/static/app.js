// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function grow(area) {
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight + 2, window.innerHeight * 0.5) + "px";
  }

  function enhanceQueryBox(area) {
    grow(area);
    area.addEventListener("input", function () { grow(area); });
    area.addEventListener("keydown", function (event) {
      // Enter submits; Shift+Enter adds a line; Enter that confirms an IME conversion does nothing.
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) {
        return;
      }
      event.preventDefault();
      if (area.value.trim() && area.form) {
        area.form.requestSubmit ? area.form.requestSubmit() : area.form.submit();
      }
    });
    area.addEventListener("paste", function () { window.setTimeout(function () { grow(area); }, 0); });
  }

  function enhanceFilters(form) {
    form.addEventListener("change", function (event) {
      if (event.target && event.target.type === "checkbox") {
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }
    });
    form.classList.add("js-autosubmit");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea.query").forEach(enhanceQueryBox);
    document.querySelectorAll("form[data-autosubmit]").forEach(enhanceFilters);
    document.querySelectorAll("form.feedback").forEach(function (form) {
      form.addEventListener("submit", function () {
        // After the form data is built (disabling now would drop the clicked verdict): no double posts.
        window.setTimeout(function () {
          form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
  });
})();

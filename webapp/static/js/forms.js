// Forms: after a failed submit the error summary takes the focus (a screen reader reads it
// at once, a keyboard user starts from it), and a link of the summary moves the focus to
// its field, with the field's question scrolled into view (GOV.UK / DSFR error summary).
(function () {
  "use strict";
  function questionOf(input) {
    var fieldset = input.closest("fieldset");
    if (fieldset && fieldset.querySelector("legend")) {
      return fieldset.querySelector("legend");
    }
    return document.querySelector('label[for="' + input.id + '"]') || input;
  }
  function init() {
    var summary = document.querySelector("[data-focus-on-load]");
    if (!summary) {
      return;
    }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) {
        return;
      }
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) {
        return;
      }
      event.preventDefault();
      questionOf(input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// The form editor's live preview: the server renders the fields with the task page's macro.
(function () {
  "use strict";
  var form = document.getElementById("editeur-formulaire");
  var target = document.getElementById("apercu");
  if (!form || !target) { return; }
  var timer = null;
  function refresh() {
    var body = new FormData(form);
    body.set("action", "apercu");
    fetch(form.getAttribute("data-preview"), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": form.querySelector("input[name='csrf_token']").value }
    }).then(function (response) { return response.text(); })
      .then(function (html) { target.innerHTML = html; })
      .catch(function () { /* the preview button still works */ });
  }
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  });
})();

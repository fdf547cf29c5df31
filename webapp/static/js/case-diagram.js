// The case page's diagram: bpmn-js viewer (from npm), current steps and completed ones marked.
(function () {
  "use strict";
  var container = document.getElementById("diagramme");
  if (!container || typeof window.BpmnJS !== "function") { return; }
  fetch(container.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) { return response.json(); })
    .then(function (data) {
      var viewer = new window.BpmnJS({ container: container });
      return viewer.importXML(data.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        data.done.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "step-done"); } });
        data.current.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "step-current"); } });
        canvas.zoom("fit-viewport");
        container.setAttribute("data-ready", "true");
      });
    })
    .catch(function () {
      container.textContent = "Le schéma n'a pas pu être affiché.";
    });
})();

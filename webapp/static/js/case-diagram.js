// The case page's diagram: bpmn-js viewer (from npm), current steps and completed ones marked,
// opened at a readable size on the first open step (diagram-view.js), the last completed one
// on a finished case.
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
        // the page's first listed step, then any current element, then the furthest done one
        var listed = (container.getAttribute("data-focus") || "").split(" ").filter(Boolean);
        var done = data.done.map(function (id) { return registry.get(id); })
          .filter(function (element) { return element && !element.waypoints; })
          .sort(function (a, b) { return b.x - a.x; })
          .map(function (element) { return element.id; });
        window.AiguillageDiagram.attach(viewer, container, { image: true })
          .open(listed.concat(data.current, done));
        container.setAttribute("data-ready", "true");
      });
    })
    .catch(function () {
      container.textContent = container.getAttribute("data-failed")
        || "Le schéma n'a pas pu être affiché.";
    });
})();

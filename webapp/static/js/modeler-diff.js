// The versions diff: both diagrams in the bpmn-js viewer, changed elements coloured.
(function () {
  "use strict";
  var source = document.getElementById("diff-donnees");
  if (!source || typeof window.BpmnJS !== "function") { return; }
  var data = JSON.parse(source.textContent);

  function draw(id, xml, markers) {
    var container = document.getElementById(id);
    var viewer = new window.BpmnJS({ container: container });
    return viewer.importXML(xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      Object.keys(markers).forEach(function (elementId) {
        if (registry.get(elementId)) { canvas.addMarker(elementId, "diff-" + markers[elementId]); }
      });
      canvas.zoom("fit-viewport");
      container.setAttribute("data-ready", "true");
    }).catch(function () {
      container.textContent = "—";
    });
  }

  draw("diff-ancien", data.old, data.markers.old);
  draw("diff-nouveau", data["new"], data.markers["new"]);
})();

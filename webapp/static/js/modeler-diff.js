// The versions diff: both diagrams in the bpmn-js viewer, changed elements coloured, opened at
// a readable size on the first change listed above them (diagram-view.js); moving or zooming
// one moves the other, so that the same place of the circuit is seen before and after.
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
      return { container: container,
               view: window.AiguillageDiagram.attach(viewer, container, { image: true }) };
    }).catch(function () {
      container.textContent = "—";
      container.setAttribute("data-ready", "true");
      return null;
    });
  }

  // Each view follows the other's centre and scale; ``following`` stops the echo.
  function link(a, b) {
    var following = false;
    [[a, b], [b, a]].forEach(function (pair) {
      pair[0].view.viewer.get("eventBus").on("canvas.viewbox.changed", function () {
        if (following) { return; }
        following = true;
        try {
          var seen = pair[0].view.current();
          pair[1].view.show(seen.point, seen.scale);
        } finally { following = false; }
      });
    });
  }

  Promise.all([draw("diff-ancien", data.old, data.markers.old),
               draw("diff-nouveau", data["new"], data.markers["new"])]).then(function (drawn) {
    var shown = drawn.filter(Boolean);
    // the first listed change drawn on either side (a removed step is only on the left)
    var first = null;
    (data.first || []).some(function (id) {
      return shown.some(function (side) {
        var element = side.view.viewer.get("elementRegistry").get(id);
        if (element && !element.labelTarget) { first = window.AiguillageDiagram.centreOf(element); }
        return first !== null;
      });
    });
    shown.forEach(function (side) {
      side.view.open(first ? [first] : []);
    });
    if (shown.length === 2) { link(shown[0], shown[1]); }
    shown.forEach(function (side) { side.container.setAttribute("data-ready", "true"); });
  });
})();

// Diagram views shared by the case page, the modeler and the versions diff: open a bpmn-js
// canvas at a readable zoom centred on the step that matters, and wire the view's buttons
// (zoom in and out, whole diagram, recentre, full screen). Panning (drag, wheel, arrow keys
// once the diagram has the focus) and Ctrl + wheel zoom are bpmn-js' own.
//
// Markup (templates/macros/diagram.html): a wrapper [data-diagram-view] holding a toolbar
// (hidden until the diagram is drawn) with [data-diagram-action] buttons, and the bpmn-js
// container, whose data-label names the drawing for assistive technologies.
(function () {
  "use strict";
  var READABLE = 1.0;   // labels at their designed 12 px
  var LEGIBLE = 0.8;    // the whole diagram is shown when it fits at this scale or more
  var MARGIN = 24;      // px of air around the diagram and the elements kept clear

  function tryGet(viewer, name) {
    try { return viewer.get(name); } catch (e) { return null; }
  }

  // A shape's centre, or a connection's middle bend.
  function centreOf(element) {
    if (element.waypoints && element.waypoints.length) {
      var points = element.waypoints;
      var a = points[Math.floor((points.length - 1) / 2)];
      var b = points[Math.ceil((points.length - 1) / 2)];
      return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    }
    return { x: element.x + (element.width || 0) / 2, y: element.y + (element.height || 0) / 2 };
  }

  function attach(viewer, container, options) {
    options = options || {};
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var eventBus = viewer.get("eventBus");
    var zoomScroll = tryGet(viewer, "zoomScroll");
    var wrapper = container.closest("[data-diagram-view]") || container;
    var toolbar = wrapper.querySelector(".diagram-toolbar");
    var home = null;  // the point the view opened on: « Recentrer » comes back to it

    // Pixels on the left of the canvas covered by something drawn over it (the palette).
    function inset() {
      var covering = options.avoid ? container.querySelector(options.avoid) : null;
      if (!covering || !covering.offsetWidth) { return 0; }
      return covering.getBoundingClientRect().right - container.getBoundingClientRect().left
        + MARGIN / 2;
    }

    function bounds() { return canvas.viewbox().inner; }

    // Put the diagram point ``point`` at the centre of the free part of the canvas, at
    // ``scale``; when ``keepEdges``, never show empty space left of or above the diagram, and
    // keep its left edge clear of the palette.
    function place(point, scale, keepEdges) {
      var outer = canvas.getSize();
      var left = inset();
      var width = outer.width / scale;
      var height = outer.height / scale;
      var x = point.x - (left + (outer.width - left) / 2) / scale;
      var y = point.y - height / 2;
      if (keepEdges) {
        var inner = bounds();
        x = Math.min(x, inner.x + inner.width + MARGIN / scale - width);
        x = Math.max(x, inner.x - (left + MARGIN) / scale);
        y = Math.min(y, inner.y + inner.height + MARGIN / scale - height);
        y = Math.max(y, inner.y - MARGIN / scale);
      }
      canvas.viewbox({ x: x, y: y, width: width, height: height });
    }

    // The whole diagram, clear of the palette, never enlarged past its designed size.
    function overview() {
      var outer = canvas.getSize();
      var inner = bounds();
      var left = inset();
      var scale = Math.min(1, (outer.width - left - 2 * MARGIN) / inner.width,
                           (outer.height - 2 * MARGIN) / inner.height);
      canvas.viewbox({ x: inner.x - (left + MARGIN) / scale, y: inner.y - MARGIN / scale,
                       width: outer.width / scale, height: outer.height / scale });
    }

    function fitScale() {
      var outer = canvas.getSize();
      var inner = bounds();
      if (!inner.width || !inner.height) { return 1; }
      return Math.min((outer.width - inset() - 2 * MARGIN) / inner.width,
                      (outer.height - 2 * MARGIN) / inner.height);
    }

    // The first of ``targets`` (element ids or diagram points) found here, else the start event.
    function findTarget(targets) {
      var root = canvas.getRootElement();
      for (var i = 0; i < (targets || []).length; i += 1) {
        var target = targets[i];
        if (target && typeof target === "object" && typeof target.x === "number") { return target; }
        var element = typeof target === "string" ? registry.get(target) : null;
        if (element && !element.labelTarget) { return centreOf(element); }
      }
      var starts = registry.filter(function (element) {
        return element.type === "bpmn:StartEvent" && !element.labelTarget
          && element.parent && (element.parent === root || element.parent.parent === root
                                || element.parent.type === "bpmn:Participant");
      }).sort(function (a, b) { return a.x - b.x || a.y - b.y; });
      if (starts.length) { return centreOf(starts[0]); }
      var inner = bounds();
      return { x: inner.x + inner.width / 2, y: inner.y + inner.height / 2 };
    }

    // Open on ``targets``: the whole diagram if it stays legible at its fitted size, else at
    // the designed size, centred on the target.
    function open(targets) {
      home = findTarget(targets);
      if (!canvas.getSize().width) {
        // not laid out (a hidden tab): nothing to measure yet
      } else if (fitScale() >= LEGIBLE) { overview(); } else { place(home, READABLE, true); }
      if (toolbar) { toolbar.hidden = false; }
      label();
      return controller;
    }

    function recentre() {
      var selection = tryGet(viewer, "selection");
      var selected = selection ? selection.get() : [];
      if (selected.length === 1 && !selected[0].waypoints && selected[0].type !== "bpmn:Process"
          && selected[0].type !== "bpmn:Collaboration") {
        place(centreOf(selected[0]), Math.max(canvas.zoom(), READABLE), false);
      } else if (home) {
        place(home, READABLE, true);
      }
    }

    function zoomBy(direction) {
      if (zoomScroll) { zoomScroll.stepZoom(direction); return; }
      canvas.zoom(canvas.zoom() * (direction > 0 ? 1.25 : 0.8));
    }

    // The view's centre (diagram point) and scale, kept across a change of the canvas' size.
    function current() {
      var box = canvas.viewbox();
      return { point: { x: box.x + box.width / 2, y: box.y + box.height / 2 }, scale: box.scale };
    }

    function show(point, scale) {
      var outer = canvas.getSize();
      canvas.viewbox({ x: point.x - outer.width / 2 / scale, y: point.y - outer.height / 2 / scale,
                       width: outer.width / scale, height: outer.height / scale });
    }

    // ---------------------------------------------------------------- full screen

    var fullButton = toolbar ? toolbar.querySelector("[data-diagram-action='fullscreen']") : null;
    var maximised = false;  // the fallback without the Fullscreen API: the page's whole window

    function isFull() { return document.fullscreenElement === wrapper || maximised; }

    function resized(before) {
      canvas.resized();
      show(before.point, before.scale);
      if (fullButton) {
        var full = isFull();
        fullButton.textContent = fullButton.getAttribute(full ? "data-label-on" : "data-label-off");
      }
      wrapper.classList.toggle("diagram-view-full", isFull());
    }

    function maximise(on) {
      var before = current();
      maximised = on;
      wrapper.classList.toggle("diagram-view-maximised", on);
      document.body.classList.toggle("diagram-maximised", on);
      resized(before);
    }

    function toggleFull() {
      if (maximised) { maximise(false); return; }
      if (document.fullscreenElement === wrapper) { document.exitFullscreen(); return; }
      if (wrapper.requestFullscreen) {
        wrapper.requestFullscreen().catch(function () { maximise(true); });
      } else {
        maximise(true);
      }
    }

    // The view before the canvas changed size (entering or leaving full screen): bpmn-js
    // only learns the new size from canvas.resized().
    var lastView = null;
    eventBus.on("canvas.viewbox.changed", function () { lastView = current(); });
    document.addEventListener("fullscreenchange", function () {
      if (lastView) { resized(lastView); }
    });
    // Esc leaves full screen (browsers do it themselves for the Fullscreen API; not always
    // for a page driven by assistive or test tools, nor for the fallback)
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !isFull()) { return; }
      if (maximised) { maximise(false); } else { document.exitFullscreen(); }
      if (fullButton) { fullButton.focus(); }
    });

    // ---------------------------------------------------------------- buttons, labels

    var actions = {
      "zoom-in": function () { zoomBy(1); },
      "zoom-out": function () { zoomBy(-1); },
      "fit": overview,
      "recentre": recentre,
      "fullscreen": toggleFull
    };
    if (toolbar) {
      toolbar.addEventListener("click", function (event) {
        var button = event.target.closest("[data-diagram-action]");
        if (button && actions[button.getAttribute("data-diagram-action")]) {
          actions[button.getAttribute("data-diagram-action")]();
        }
      });
    }

    // The drawing's name goes on the SVG itself, so that the bpmn.io link beside it stays
    // outside any element marked as an image.
    function label() {
      var svg = container.querySelector(".djs-container > svg");
      if (!svg) { return; }
      if (container.getAttribute("data-label")) {
        svg.setAttribute("aria-label", container.getAttribute("data-label"));
      }
      if (options.image) { svg.setAttribute("role", "img"); }
    }

    var controller = {
      viewer: viewer, open: open, recentre: recentre, overview: overview, current: current,
      show: show, findTarget: findTarget
    };
    return controller;
  }

  window.AiguillageDiagram = { attach: attach, centreOf: centreOf };
})();

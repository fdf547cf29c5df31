// The circuit modeler: bpmn-js modeler (from npm) and our own side panel (plain JS).
// The panel edits, for the selected element, what circuits need without XML: lane (role, and
// the part of the case its steps go to), form, deadline, instructions, timer values, gateway conditions; it writes
// <spiffworkflow:properties> through the modeler's moddle and modeling APIs (undoable).
// Saving posts the XML with the CSRF token; the server checks the circuit and answers with
// the problems, listed beside the diagram and marked on their elements.
(function () {
  "use strict";
  var root = document.getElementById("modeleur");
  if (!root || typeof window.BpmnJS !== "function") { return; }
  var T = JSON.parse(document.getElementById("modeleur-textes").textContent);
  var W = window.AiguillageWords;
  var partsData = document.getElementById("modeleur-parties");
  var PARTS = partsData ? JSON.parse(partsData.textContent) : [];  // the territory's parts
  var token = document.querySelector("meta[name='csrf-token']").getAttribute("content");
  var statusLine = document.getElementById("modeleur-etat");
  var panel = document.getElementById("mp-proprietes");
  var picker = document.getElementById("mp-element");
  var problemsBox = document.getElementById("mp-problemes");
  var deployButton = document.getElementById("mp-deployer");
  var deployForm = document.getElementById("mp-deployer-form");
  var saveButton = document.getElementById("mp-enregistrer");
  var modeler = new window.BpmnJS({
    container: document.getElementById("modeleur-canvas"),
    moddleExtensions: { spiffworkflow: window.AiguillageSpiffModdle }
  });
  var moddle = modeler.get("moddle");
  var modeling = modeler.get("modeling");
  var registry = modeler.get("elementRegistry");
  var canvas = modeler.get("canvas");
  var selection = modeler.get("selection");
  var state = { revision: null, forms: [], formTitles: {}, dateFields: [], roles: [], errors: 1,
                periods: [], dirty: false, marked: [], current: null };

  var HUMAN = ["bpmn:UserTask", "bpmn:ManualTask", "bpmn:Task"];
  var PROPS = "spiffworkflow:Properties";

  function text(key, n) { return (T[key] || key).replace("{n}", n); }
  function say(message) { statusLine.textContent = message; }
  function is(element, types) { return types.indexOf(element.type) !== -1; }

  // ---------------------------------------------------------------- properties

  function readProps(bo) {
    var out = {};
    var values = (bo.extensionElements && bo.extensionElements.values) || [];
    values.forEach(function (v) {
      if (v.$type === PROPS) {
        (v.properties || []).forEach(function (p) { out[p.name] = p.value; });
      }
    });
    return out;
  }

  function writeProps(element, changes) {
    var bo = element.businessObject;
    var values = ((bo.extensionElements && bo.extensionElements.values) || []).slice();
    var props = readProps(bo);
    Object.keys(changes).forEach(function (name) {
      if (changes[name] === null || changes[name] === "") { delete props[name]; }
      else { props[name] = changes[name]; }
    });
    values = values.filter(function (v) { return v.$type !== PROPS; });
    var list = Object.keys(props).map(function (name) {
      return moddle.create("spiffworkflow:Property", { name: name, value: props[name] });
    });
    if (list.length) { values.push(moddle.create(PROPS, { properties: list })); }
    var ext = values.length ? moddle.create("bpmn:ExtensionElements", { values: values }) : undefined;
    modeling.updateProperties(element, { extensionElements: ext });
  }

  function documentation(bo) {
    var docs = bo.documentation || [];
    return docs.length ? (docs[0].text || "") : "";
  }

  function setDocumentation(element, value) {
    var docs = value ? [moddle.create("bpmn:Documentation", { text: value })] : [];
    modeling.updateProperties(element, { documentation: docs });
  }

  // ---------------------------------------------------------------- lanes

  function lanes() {
    return registry.filter(function (e) { return e.type === "bpmn:Lane"; });
  }

  function laneOf(element) {
    var found = null;
    lanes().forEach(function (lane) {
      var refs = lane.businessObject.flowNodeRef || [];
      if (refs.indexOf(element.businessObject) !== -1) { found = lane; }
    });
    return found;
  }

  function moveToLane(element, laneId) {
    var lane = registry.get(laneId);
    if (!lane) { return; }
    var dy = (lane.y + lane.height / 2) - (element.y + element.height / 2);
    modeling.moveElements([element], { x: 0, y: Math.round(dy) });
  }

  // ---------------------------------------------------------------- panel widgets

  var counter = 0;
  var into = null;  // where the widgets below go, when not straight into the panel
  function field(labelText, control) {
    var wrap = document.createElement("div");
    wrap.className = "field";
    var label = document.createElement("label");
    control.id = control.id || "mp-f-" + (counter += 1);
    label.setAttribute("for", control.id);
    label.textContent = labelText;
    wrap.appendChild(label);
    wrap.appendChild(control);
    (into || panel).appendChild(wrap);
    return control;
  }

  function input(value, onChange, id) {
    var el = document.createElement("input");
    el.type = "text";
    el.value = value || "";
    if (id) { el.id = id; }
    el.addEventListener("change", function () { onChange(el.value.trim()); });
    return el;
  }

  function area(value, onChange, id) {
    var el = document.createElement("textarea");
    el.rows = 4;
    el.value = value || "";
    if (id) { el.id = id; }
    el.addEventListener("change", function () { onChange(el.value.trim()); });
    return el;
  }

  function choose(options, value, onChange, id) {
    var el = document.createElement("select");
    if (id) { el.id = id; }
    options.forEach(function (pair) {
      var option = document.createElement("option");
      option.value = pair[0];
      option.textContent = pair[1];
      if (pair[0] === (value || "")) { option.selected = true; }
      el.appendChild(option);
    });
    el.addEventListener("change", function () { onChange(el.value); });
    return el;
  }

  function check(labelText, checked, onChange, id) {
    var wrap = document.createElement("div");
    wrap.className = "field field-check";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.id = id || "mp-f-" + (counter += 1);
    box.checked = checked;
    box.addEventListener("change", function () { onChange(box.checked); });
    var label = document.createElement("label");
    label.setAttribute("for", box.id);
    label.textContent = labelText;
    wrap.appendChild(box);
    wrap.appendChild(label);
    (into || panel).appendChild(wrap);
  }

  // a number and a unit (« 15 » « jours ouvrés »): checked here in the words of the server's
  // check, written only when right; `units` are keys of W.UNITS, `onValid(number, unit)`
  // writes (number null: none)
  function durationField(opts) {
    var wrap = document.createElement("div");
    wrap.className = "field field-duration";
    var label = document.createElement("label");
    var number = document.createElement("input");
    number.type = "text";
    number.inputMode = "numeric";
    number.id = opts.id;
    number.size = 6;
    number.value = opts.number === null || opts.number === undefined ? "" : String(opts.number);
    label.setAttribute("for", number.id);
    label.textContent = opts.label;
    var unitLabel = document.createElement("label");
    unitLabel.setAttribute("for", opts.id + "-unite");
    unitLabel.className = "sr-only";
    unitLabel.textContent = opts.unitLabel;
    var unit = document.createElement("select");
    unit.id = opts.id + "-unite";
    opts.units.forEach(function (key) {
      var option = document.createElement("option");
      option.value = key;
      option.textContent = T.units[key];
      if (key === (opts.unit || opts.units[0])) { option.selected = true; }
      unit.appendChild(option);
    });
    var row = document.createElement("div");
    row.className = "duration-row";
    row.appendChild(number);
    row.appendChild(unitLabel);
    row.appendChild(unit);
    var error = document.createElement("p");
    error.className = "field-error";
    error.id = opts.id + "-erreur";
    error.hidden = true;
    wrap.appendChild(label);
    if (opts.help) {
      var help = document.createElement("p");
      help.className = "help";
      help.id = opts.id + "-aide";
      help.textContent = opts.help;
      wrap.appendChild(help);
      number.setAttribute("aria-describedby", help.id);
    }
    wrap.appendChild(row);
    wrap.appendChild(error);
    (into || panel).appendChild(wrap);
    function apply() {
      var typed = number.value.trim();
      var wrong = typed ? W.problem(typed, unit.value) : null;
      error.hidden = !wrong;
      if (wrong) {
        error.textContent = opts.message.replace("{step}", opts.step())
          .replace("{reason}", T.reasons[unit.value + "." + wrong]);
        number.setAttribute("aria-invalid", "true");
        number.setAttribute("aria-describedby", error.id + (opts.help ? " " + opts.id + "-aide" : ""));
        return;
      }
      number.removeAttribute("aria-invalid");
      if (opts.help) { number.setAttribute("aria-describedby", opts.id + "-aide"); }
      else { number.removeAttribute("aria-describedby"); }
      if (typed || opts.number !== null) {
        opts.onValid(typed ? parseInt(typed, 10) : null, unit.value);
        opts.number = typed ? parseInt(typed, 10) : null;
      }
    }
    number.addEventListener("change", apply);
    unit.addEventListener("change", apply);
    return wrap;
  }

  function stepName(element) {
    return (element.businessObject.name || "").trim() || T.kinds[W.kind(element)];
  }

  // a step's deadline: counted from the step's arrival (dueIn / dueInWorkingDays), or from a
  // date of the case (dueRelative « -7D:date_audience ») with the ordinary delay kept as the
  // fallback while the date is not answered (« Sinon, … »)
  function deadlineField(element, props) {
    var relative = W.readRelative(props);
    var box = document.createElement("div");
    field(T.dueMode, choose([["arrival", T.dueFromArrival], ["date", T.dueFromDate]],
      relative ? "date" : "arrival", function (mode) {
        if (mode === "arrival") { writeProps(element, { dueRelative: null }); }
        widgets(mode, null);
      }, "mp-delai-mode"));
    (into || panel).appendChild(box);
    function widgets(mode, initial) {
      box.innerHTML = "";
      into = box;
      if (mode === "date") { relativeField(element, initial); }
      ordinaryDeadline(element, readProps(element.businessObject), mode === "date");
      into = null;
    }
    widgets(relative ? "date" : "arrival", relative);
  }

  // « N jours avant/après une date du dossier »: a step's dueRelative, or a timer's
  // timerRelative (opts.prop, opts.id, opts.label, opts.help)
  function relativeField(element, current, opts) {
    opts = opts || { prop: "dueRelative", id: "mp-delai", label: T.dueRelative,
                     help: T.dueDateHelp, message: T.dueMessage };
    var known = current && current.unit ? current : null;
    var dates = state.dateFields.map(function (d) {
      return [d.name, d.label && d.label !== d.name ? d.label + " (" + d.name + ")" : d.name];
    });
    var chosen = known ? known.field : (dates.length ? dates[0][0] : "");
    if (chosen && !dates.some(function (d) { return d[0] === chosen; })) {
      dates.push([chosen, chosen]);
    }
    var value = { number: known ? known.number : null, unit: known ? known.unit : "days",
                  before: known ? known.before : true, field: chosen };
    var error = document.createElement("p");
    function write() {
      var missing = value.number !== null && !value.field;
      error.hidden = !missing;
      error.textContent = missing ? opts.message.replace("{step}", stepName(element))
        .replace("{reason}", T.dueDateNone) : "";
      if (missing) { return; }
      var changes = {};
      changes[opts.prop] = value.number === null ? null :
        W.writeRelative(value.number, value.unit, value.before, value.field);
      writeProps(element, changes);
    }
    durationField({
      id: opts.id + "-date-nombre", label: opts.label, unitLabel: T.dueUnit, help: opts.help,
      units: ["days", "working_days", "months"], number: value.number, unit: value.unit,
      message: opts.message, step: function () { return stepName(element); },
      onValid: function (number, unit) { value.number = number; value.unit = unit; write(); }
    });
    field(T.dueSide, choose([["before", T.dueBefore], ["after", T.dueAfter]],
      value.before ? "before" : "after", function (v) {
        value.before = v === "before";
        write();
      }, opts.id + "-sens"));
    field(T.dueDate, choose(dates.length ? dates : [["", T.none]], chosen, function (v) {
      value.field = v;
      write();
    }, opts.id + "-date"));
    error.className = "field-error";
    error.id = opts.id + "-date-erreur";
    error.hidden = true;
    (into || panel).appendChild(error);
    if (!state.dateFields.length) { note(T.dueNoDates); }
    if (current && !known) { note(T.dueOther.replace("{n}", current.other)); }
  }

  // the territory's periods (the winter truce), each a choice « ne rien changer / décaler /
  // suspendre » for the step's deadline or the timer: the `period` property
  // (« shift:treve_hivernale »), one rule at most, removed by « ne rien changer »;
  // words: { shift, suspend, help } in the step's or the timer's words
  function periodField(element, words) {
    var current = W.readPeriod(readProps(element.businessObject));
    var known = current && state.periods.some(function (p) { return p.key === current.key; });
    var groups = [];
    state.periods.forEach(function (period, i) {
      var group = document.createElement("fieldset");
      group.className = "field field-period";
      group.id = "mp-periode-" + i;
      var legend = document.createElement("legend");
      legend.textContent = T.periodDuring.replace("{p}", period.label)
        .replace("{from}", W.dayOfYear(period.from, T.months))
        .replace("{to}", W.dayOfYear(period.to, T.months));
      group.appendChild(legend);
      var mine = known && current.key === period.key ? current.rule : "";
      [["", T.periodNothing], ["shift", words.shift], ["suspend", words.suspend]]
        .forEach(function (pair) {
          var wrap = document.createElement("div");
          wrap.className = "choice";
          var radio = document.createElement("input");
          radio.type = "radio";
          radio.name = group.id;
          radio.value = pair[0];
          radio.id = group.id + "-" + (pair[0] || "rien");
          radio.checked = pair[0] === mine;
          radio.addEventListener("change", function () {
            if (!radio.checked) { return; }
            groups.forEach(function (other) {  // one rule: the other periods back to « rien »
              if (other !== group) { other.querySelector("input[value='']").checked = true; }
            });
            writeProps(element, { period: W.writePeriod(pair[0], period.key) });
          });
          var label = document.createElement("label");
          label.setAttribute("for", radio.id);
          label.textContent = pair[1];
          wrap.appendChild(radio);
          wrap.appendChild(label);
          group.appendChild(wrap);
        });
      group.setAttribute("aria-describedby", "mp-periode-aide");
      groups.push(group);
      (into || panel).appendChild(group);
    });
    if (state.periods.length) {
      note(words.help);
      (into || panel).lastChild.id = "mp-periode-aide";
    }
    if (current && !known) {
      note(T.periodOther.replace("{n}", current.other || current.rule + ":" + current.key));
    }
  }

  function note(message) {
    var p = document.createElement("p");
    p.className = "help";
    p.textContent = message;
    (into || panel).appendChild(p);
  }

  function ordinaryDeadline(element, props, fallback) {
    var current = W.readDeadline(props);
    var known = current && current.unit ? current : null;
    durationField({
      id: "mp-delai", label: fallback ? T.dueFallback : T.due, unitLabel: T.dueUnit,
      help: fallback ? T.dueFallbackHelp : T.dueHelp,
      units: ["days", "working_days", "hours", "weeks", "months"],
      number: known ? known.number : null, unit: known ? known.unit : "days",
      message: T.dueMessage, step: function () { return stepName(element); },
      onValid: function (number, unit) {
        writeProps(element, number === null ? { dueIn: null, dueInWorkingDays: null } :
          W.writeDeadline(number, unit));
      }
    });
    if (current && current.other) { note(T.dueOther.replace("{n}", current.other)); }
  }

  // ---------------------------------------------------------------- panel per element

  function render(element) {
    state.current = element;
    panel.innerHTML = "";
    if (!element || element.type === "bpmn:Process" || element.type === "bpmn:Collaboration") {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = T.noElement;
      panel.appendChild(p);
      picker.value = "";
      return;
    }
    picker.value = element.id;
    var bo = element.businessObject;
    if (element.type === "bpmn:Lane") { return renderLane(element); }
    field(T.name, input(bo.name, function (v) { modeling.updateLabel(element, v); }, "mp-nom"));
    if (is(element, HUMAN)) { renderStep(element); }
    if (element.type === "bpmn:StartEvent") {
      field(T.startForm, formSelect(element, "mp-formulaire"));
    }
    var timer = timerOf(bo);
    if (timer) { renderTimer(element, timer); }
    if (element.type === "bpmn:IntermediateThrowEvent") { renderNotify(element); }
    if (awaitsMessage(element)) { renderMessage(element); }
    if (element.type === "bpmn:SequenceFlow") { renderFlow(element); }
    if (W.kind(element) === "choice" || W.kind(element) === "parallel") { renderPaths(element); }
  }

  // a choice's outgoing paths, each a button that selects it (its condition is set there)
  function renderPaths(element) {
    var outgoing = element.outgoing || [];
    if (!outgoing.length) { return; }
    var title = document.createElement("p");
    title.className = "help";
    title.textContent = T.paths;
    panel.appendChild(title);
    var list = document.createElement("ul");
    list.className = "mp-chemins";
    outgoing.forEach(function (flow) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button-link";
      button.textContent = W.label(flow, T) +
        (element.businessObject.default === flow.businessObject ? " — " + T.defaultPath : "");
      button.addEventListener("click", function () { show(flow.id); });
      item.appendChild(button);
      list.appendChild(item);
    });
    panel.appendChild(list);
  }

  function formSelect(element, id) {
    var current = readProps(element.businessObject).formJsonSchemaFilename || "";
    // a form by its title, its file name after it (two forms may share a title)
    var options = [["", T.none]].concat(state.forms.map(function (f) {
      var title = state.formTitles[f];
      return [f, title && title !== f ? title + " (" + f + ")" : f];
    }));
    if (current && state.forms.indexOf(current) === -1) { options.push([current, current]); }
    return choose(options, current, function (v) {
      writeProps(element, { formJsonSchemaFilename: v || null, formUiSchemaFilename: null });
    }, id);
  }

  function renderStep(element) {
    var bo = element.businessObject;
    var lane = laneOf(element);
    var options = lanes().map(function (l) { return [l.id, l.businessObject.name || l.id]; });
    field(T.lane, choose([["", T.none]].concat(options), lane ? lane.id : "", function (v) {
      moveToLane(element, v);
    }, "mp-couloir"));
    field(T.form, formSelect(element, "mp-formulaire"));
    deadlineField(element, readProps(bo));
    periodField(element, { shift: T.periodShiftStep, suspend: T.periodSuspendStep,
                           help: T.periodStepHelp });
    field(T.instructions, area(documentation(bo), function (v) {
      setDocumentation(element, v);
    }, "mp-consignes"));
  }

  function timerOf(bo) {
    var defs = bo.eventDefinitions || [];
    for (var i = 0; i < defs.length; i += 1) {
      if (defs[i].$type === "bpmn:TimerEventDefinition") { return defs[i]; }
    }
    return null;
  }

  // a timer: after a delay (number and unit), after a delay read in the case (a field), at a
  // date and time, or at regular intervals; written as today's timeDuration / timeDate /
  // timeCycle expressions (quoted ISO values, or a bare field name)
  var chosenTimerMode = {};  // element id → the mode picked while its value is still empty

  function readTimer(timer, props, id) {
    if (props && props.timerRelative) {
      return { mode: "relative", relative: W.readRelative({ dueRelative: props.timerRelative }) };
    }
    var kind = timer.timeDate ? "timeDate" : (timer.timeCycle ? "timeCycle" : "timeDuration");
    var raw = timer[kind] ? (timer[kind].body || "").trim() : "";
    if (!raw && chosenTimerMode[id]) {
      return { mode: chosenTimerMode[id], relative: null };
    }
    var value = W.unquote(raw);
    if (kind === "timeDuration") {
      if (/^[a-z_][a-z0-9_]*$/.test(raw)) { return { mode: "field", field: raw }; }
      return { mode: "duration", duration: W.readDuration(value), other: value };
    }
    if (kind === "timeDate") { return { mode: "date", date: value }; }
    // « R12/P1M », or with the first occurrence's date (a start event planning sessions)
    var m = /^R(\d*)\/(?:(\d{4}-[^/]+)\/)?(P[^/]+)$/i.exec(value);
    return { mode: "cycle", count: m ? m[1] : "", start: m ? m[2] || "" : "",
             duration: m ? W.readDuration(m[3]) : null, other: value };
  }

  function writeTimer(element, timer, kind, body) {
    var changes = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
    if (body) { changes[kind] = moddle.create("bpmn:FormalExpression", { body: body }); }
    modeling.updateModdleProperties(element, timer, changes);
  }

  // a timer counted from a date of the case: an empty timeDate the engine fills
  // (timerRelative, see docs/processes.md)
  function writeRelativeTimer(element, timer) {
    var date = moddle.create("bpmn:FormalExpression", { body: "" });
    modeling.updateModdleProperties(element, timer, { timeDuration: undefined,
                                                      timeDate: date, timeCycle: undefined });
  }

  function localDate(iso) {  // « 2027-03-31T18:00:00+02:00 » → the input's local « 2027-03-31T18:00 »
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) { return ""; }
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + "T" +
      two(d.getHours()) + ":" + two(d.getMinutes());
  }

  // a timer start event plans the commission's sessions (docs/processes.md): its bounded
  // cycle and its « occurrence » property (first:tuesday) said in words under the timer
  function sessionPlan(element, timer) {
    var raw = W.unquote(timer.timeCycle ? (timer.timeCycle.body || "").trim() : "");
    var m = /^R(\d+)\/(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})[^/]*\/(P[^/]+)$/i.exec(raw);
    var note = document.createElement("p");
    note.className = "help";
    note.id = "mp-seances";
    if (!m) {
      note.textContent = T.sessionUnbounded;
    } else {
      var hour = String(parseInt(m[5], 10)) + (m[6] !== "00" ? " " + m[6] : "");
      var occ = (readProps(element.businessObject).occurrence || "").split(":");
      var words = (occ.length === 2 && T.sessionRanks[occ[0]] && T.sessionWeekdays[occ[1]] &&
                   m[7].toUpperCase() === "P1M")
        ? T.sessionPlanWords.replace("{r}", T.sessionRanks[occ[0]])
          .replace("{d}", T.sessionWeekdays[occ[1]]).replace("{h}", hour).replace("{n}", m[1])
        : T.sessionPlanEvery.replace("{j}", m[4] + "/" + m[3] + "/" + m[2])
          .replace("{h}", hour).replace("{n}", m[1]);
      note.textContent = T.sessionPlan.replace("{w}", words);
    }
    panel.appendChild(note);
  }

  function renderTimer(element, timer) {
    var read = readTimer(timer, readProps(element.businessObject), element.id);
    var modes = [["duration", T.timerDuration], ["relative", T.timerRelative],
                 ["field", T.timerField], ["date", T.timerDate], ["cycle", T.timerCycle]];
    var box = document.createElement("div");
    function name() { return stepName(element); }
    function otherNote(value) {
      if (!value) { return; }
      var note = document.createElement("p");
      note.className = "help";
      note.textContent = T.timerOther.replace("{n}", value);
      box.appendChild(note);
    }
    function widgets(mode, initial) {
      // the widgets for `mode`, in the box after the mode select
      box.innerHTML = "";
      into = box;
      var duration = initial && initial.duration;
      if (mode === "relative") {
        relativeField(element, initial ? initial.relative : null, {
          prop: "timerRelative", id: "mp-minuterie-rel", label: T.timerRelativeValue,
          help: T.timerRelativeHelp, message: T.timerMessage });
        periodField(element, { shift: T.periodShiftTimer, suspend: T.periodSuspendTimer,
                               help: T.periodTimerHelp });
      } else if (mode === "duration") {
        durationField({
          id: "mp-minuterie", label: T.timerValue, unitLabel: T.timerUnit,
          units: ["days", "hours", "weeks", "months"], number: duration ? duration.number : null,
          unit: duration ? duration.unit : "days", message: T.timerMessage, step: name,
          onValid: function (number, unit) {
            writeTimer(element, timer, "timeDuration",
                       number === null ? "" : '"' + W.writeDuration(number, unit) + '"');
          }
        });
        if (initial && !duration) { otherNote(initial.other); }
      } else if (mode === "field") {
        var fieldInput = input(initial ? initial.field : "", function (v) {
          var ok = !v || /^[a-z_][a-z0-9_]*$/.test(v);
          fieldError.hidden = ok;
          fieldError.textContent = ok ? "" : T.timerMessage.replace("{step}", name())
            .replace("{reason}", T.timerFieldBad);
          if (ok) { fieldInput.removeAttribute("aria-invalid"); writeTimer(element, timer, "timeDuration", v); }
          else { fieldInput.setAttribute("aria-invalid", "true"); }
        }, "mp-minuterie-champ");
        field(T.timerFieldName, fieldInput);
        var fieldError = document.createElement("p");
        fieldError.className = "field-error";
        fieldError.id = "mp-minuterie-champ-erreur";
        fieldError.hidden = true;
        fieldInput.setAttribute("aria-describedby", fieldError.id);
        box.appendChild(fieldError);
      } else if (mode === "date") {
        var date = document.createElement("input");
        date.type = "datetime-local";
        date.value = localDate(initial ? initial.date : "");
        date.addEventListener("change", function () {
          var d = new Date(date.value);
          writeTimer(element, timer, "timeDate", date.value && !isNaN(d.getTime()) ?
            '"' + d.toISOString().replace(/\.\d{3}Z$/, "Z") + '"' : "");
        });
        field(T.timerDateValue, date).id = "mp-minuterie-date";
      } else {
        var count = input(initial ? initial.count : "", function () { applyCycle(); },
                          "mp-minuterie-fois");
        field(T.timerTimes, count);
        var every = durationField({
          id: "mp-minuterie", label: T.timerEvery, unitLabel: T.timerUnit,
          units: ["days", "hours", "weeks", "months"], number: duration ? duration.number : null,
          unit: duration ? duration.unit : "months", message: T.timerMessage, step: name,
          onValid: function () { applyCycle(); }
        });
        var applyCycle = function () {
          var n = every.querySelector("input").value.trim();
          var unit = every.querySelector("select").value;
          var times = count.value.trim();
          if (times && !/^\d+$/.test(times)) { return; }
          if (n && !W.problem(n, unit)) {
            var first = initial && initial.start ? initial.start + "/" : "";  // kept as written
            writeTimer(element, timer, "timeCycle", '"R' + times + "/" + first +
                       W.writeDuration(parseInt(n, 10), unit) + '"');
          }
        };
        if (initial && !duration) { otherNote(initial.other); }
      }
      into = null;
    }
    field(T.timerKind, choose(modes, read.mode, function (v) {
      chosenTimerMode[element.id] = v;
      if (v === "relative") { writeRelativeTimer(element, timer); }
      var props = readProps(element.businessObject);
      if (v !== "relative" && (props.timerRelative || props.period)) {
        // leaving a date of the case: its rule, its period rule (only such a timer takes one)
        // and the empty date the engine filled go
        if (props.timerRelative) { writeTimer(element, timer, "timeDuration", ""); }
        writeProps(element, { timerRelative: null, period: null });
      }
      widgets(v, null);
    }, "mp-minuterie-type"));
    panel.appendChild(box);
    widgets(read.mode, read);
    if (element.type === "bpmn:StartEvent") { sessionPlan(element, timer); }
    if (element.type === "bpmn:BoundaryEvent") {
      check(T.interrupting, element.businessObject.cancelActivity !== false, function (on) {
        modeling.updateProperties(element, { cancelActivity: on });
      }, "mp-interrompt");
    }
  }

  function renderNotify(element) {
    var current = readProps(element.businessObject).notify || "";
    var options = [["", T.none], ["assignee", T.notifyAssignee],
                   ["coordination", T.notifyCoordination]];
    state.roles.forEach(function (r) {
      if (r.key !== "coordination") { options.push([r.key, r.label]); }
    });
    field(T.notify, choose(options, current, function (v) {
      writeProps(element, { notify: v || null });
    }, "mp-notification"));
    var effect = readProps(element.businessObject).orientation || "";
    var effects = [["", T.orientationNone], ["expire", T.orientationExpire]];
    if (effect && effect !== "expire") { effects.push([effect, T.unknownValue.replace("{n}", effect)]); }
    field(T.orientation, choose(effects, effect, function (v) {
      writeProps(element, { orientation: v || null });
    }, "mp-orientation"));
  }

  // an outside answer the case waits for (receive task, message catch or boundary event):
  // its form and the role that sends it (docs/processes.md §4bis)
  function messageOf(bo) {
    if (bo.$type === "bpmn:ReceiveTask") { return { ref: bo.messageRef }; }
    var found = (bo.eventDefinitions || []).filter(function (d) {
      return d.$type === "bpmn:MessageEventDefinition";
    })[0];
    return found ? { ref: found.messageRef } : null;
  }

  function awaitsMessage(element) {
    return ["bpmn:ReceiveTask", "bpmn:IntermediateCatchEvent", "bpmn:BoundaryEvent"]
      .indexOf(element.type) !== -1 && messageOf(element.businessObject) !== null;
  }

  function renderMessage(element) {
    var found = messageOf(element.businessObject);
    var name = found.ref && found.ref.name;
    note(name ? T.messageName.replace("{n}", name) : T.messageNone);
    field(T.messageForm, formSelect(element, "mp-formulaire-reponse"));
    var current = readProps(element.businessObject).from || "";
    var options = [["", T.none]];
    state.roles.forEach(function (r) {
      if (r.key !== "coordination") { options.push([r.key, r.label]); }
    });
    if (current && !options.some(function (o) { return o[0] === current; })) {
      options.push([current, T.unknownValue.replace("{n}", current)]);
    }
    field(T.messageFrom, choose(options, current, function (v) {
      writeProps(element, { from: v || null });
    }, "mp-envoyee-par"));
    note(T.messageFromHelp);
  }

  function renderFlow(element) {
    var bo = element.businessObject;
    var source = element.source;
    if (!source || ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"].indexOf(source.type) === -1) {
      return;
    }
    var condition = bo.conditionExpression ? (bo.conditionExpression.body || "") : "";
    field(T.condition, input(condition, function (v) {
      var expr = v ? moddle.create("bpmn:FormalExpression", { body: v }) : undefined;
      modeling.updateProperties(element, { conditionExpression: expr });
    }, "mp-condition"));
    var isDefault = source.businessObject.default === bo;
    check(T.isDefault, isDefault, function (on) {
      modeling.updateProperties(source, { "default": on ? bo : undefined });
      if (on && bo.conditionExpression) {
        modeling.updateProperties(element, { conditionExpression: undefined });
      }
    }, "mp-defaut");
  }

  function renderLane(element) {
    var name = element.businessObject.name || "";
    var options = [["", T.none]].concat(state.roles.map(function (r) { return [r.label, r.label]; }));
    var known = state.roles.some(function (r) { return r.label === name || r.key === name; });
    if (name && !known) { options.push([name, name]); }
    var current = state.roles.filter(function (r) { return r.key === name; })[0];
    field(T.role, choose(options, current ? current.label : name, function (v) {
      modeling.updateLabel(element, v);
    }, "mp-role"));
    // the part of the case its steps go to: only the organisation holding it gets them
    var part = readProps(element.businessObject).part || "";
    var parts = [["", T.partNone]].concat(PARTS.map(function (p) { return [p.key, p.label]; }));
    var declared = PARTS.some(function (p) { return p.key === part; });
    if (part && !declared) { parts.push([part, part]); }
    field(T.part, choose(parts, part, function (v) {
      writeProps(element, { part: v || null });
    }, "mp-partie"));
    var help = document.createElement("p");
    help.className = "help";
    help.id = "mp-partie-aide";
    help.textContent = T.partHelp;
    panel.appendChild(help);
    document.getElementById("mp-partie").setAttribute("aria-describedby", "mp-partie-aide");
  }

  // ---------------------------------------------------------------- element picker

  function fillPicker() {
    var items = registry.filter(function (e) {
      return e.type !== "label" && e.businessObject && e.type !== "bpmn:Process" &&
        e.type !== "bpmn:Collaboration" && e.type.indexOf("bpmn:") === 0 && !e.labelTarget;
    }).map(function (e) {
      return { id: e.id, rank: W.ORDER.indexOf(W.kind(e)), text: W.label(e, T) };
    }).sort(function (a, b) {
      return a.rank - b.rank || a.text.localeCompare(b.text, "fr");
    });
    var count = {};
    items.forEach(function (item) { count[item.text] = (count[item.text] || 0) + 1; });
    items.forEach(function (item) {  // same kind and name: say where (step it sits on, or after)
      if (count[item.text] > 1) { item.text += " " + W.context(registry.get(item.id), T); }
    });
    var seen = {};
    items.forEach(function (item) {  // still the same: number them
      seen[item.text] = (seen[item.text] || 0) + 1;
      if (seen[item.text] > 1) { item.text += " (" + seen[item.text] + ")"; }
    });
    var current = picker.value;
    picker.innerHTML = "";
    [{ id: "", text: T.noElement }].concat(items).forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.id;
      option.textContent = item.text;
      picker.appendChild(option);
    });
    picker.value = current;
  }

  function show(id) {
    var element = registry.get(id);
    if (!element) { return; }
    selection.select(element);
    try { canvas.scrollToElement(element); } catch (e) { /* older canvas */ }
  }

  picker.addEventListener("change", function () {
    if (picker.value) { show(picker.value); } else { selection.select(null); }
  });

  // ---------------------------------------------------------------- problems

  function showProblems(problems) {
    state.marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    state.marked = [];
    problemsBox.innerHTML = "";
    state.errors = problems.filter(function (p) { return p.severity === "error"; }).length;
    if (!problems.length) {
      var ok = document.createElement("p");
      ok.className = "flash flash-success";
      ok.textContent = T.noProblem;
      problemsBox.appendChild(ok);
    } else {
      var summary = document.createElement("p");
      summary.textContent = text("errorsLeft", state.errors);
      problemsBox.appendChild(summary);
      var list = document.createElement("ul");
      list.className = "problems";
      problems.forEach(function (p) { list.appendChild(problemItem(p)); });
      problemsBox.appendChild(list);
    }
    deployButton.disabled = state.errors > 0;
  }

  function problemItem(p) {
    var item = document.createElement("li");
    item.className = "problem problem-" + p.severity;
    var element = p.element_id ? registry.get(p.element_id) : null;
    var severity = document.createElement("strong");
    severity.textContent = p.severity === "error" ? T.error : T.warning;
    item.appendChild(severity);
    // on the diagram: its kind and name; otherwise the name, and the file's line to find it
    var where = element ? W.label(element, T) : (p.element_name || T.elementless) +
      (p.line ? " (" + T.line + " " + p.line + ")" : "");
    item.appendChild(document.createTextNode(" — " + where + " — " + p.message + " "));
    if (element) {
      var marker = "probleme-" + (p.severity === "error" ? "erreur" : "avertissement");
      canvas.addMarker(p.element_id, marker);
      state.marked.push([p.element_id, marker]);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button-link";
      button.textContent = T.show;
      button.addEventListener("click", function () { show(p.element_id); });
      item.appendChild(button);
    }
    return item;
  }

  // ---------------------------------------------------------------- save and deploy

  function save() {
    say(T.saving);
    saveButton.disabled = true;
    return modeler.saveXML({ format: true }).then(function (result) {
      return fetch(root.getAttribute("data-save"), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ revision: state.revision, xml: result.xml })
      });
    }).then(function (response) {
      return response.json().then(function (body) { return [response.status, body]; });
    }).then(function (answer) {
      saveButton.disabled = false;
      var status = answer[0], body = answer[1];
      if (status === 200) {
        state.revision = body.revision;
        state.dirty = false;
        deployForm.querySelector("input[name='revision']").value = body.revision;
        showProblems(body.problems);
        say(text("saved", body.revision));
        return true;
      }
      if (body.problems) { showProblems(body.problems); }
      say(body.error || T.saveFailed);
      deployButton.disabled = true;
      return false;
    }).catch(function () {
      saveButton.disabled = false;
      say(T.saveFailed);
      return false;
    });
  }

  saveButton.addEventListener("click", function () { save(); });
  deployForm.addEventListener("submit", function (event) {
    if (!state.dirty) { return; }
    event.preventDefault();  // save the latest diagram first; deploy only if it checks
    save().then(function (ok) {
      if (ok && state.errors === 0) { deployForm.submit(); }
    });
  });

  // ---------------------------------------------------------------- wiring

  var eventBus = modeler.get("eventBus");
  eventBus.on("selection.changed", function (event) {
    render(event.newSelection.length === 1 ? event.newSelection[0] : null);
  });
  eventBus.on("commandStack.changed", function () {
    state.dirty = true;
    say(T.unsaved);
    fillPicker();
  });
  eventBus.on("elements.changed", function () {
    // re-render the panel for the element being edited, unless the user is typing in it
    if (state.current && !panel.contains(document.activeElement)) {
      var fresh = registry.get(state.current.id);
      render(fresh || null);
    }
  });

  fetch(root.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) { return response.json(); })
    .then(function (data) {
      state.revision = data.revision;
      state.forms = data.forms;
      state.formTitles = data.form_titles || {};
      state.dateFields = data.date_fields || [];
      state.periods = data.periods || [];
      state.roles = data.roles;
      return modeler.importXML(data.xml).then(function () {
        // readable, on the start event, clear of the palette (diagram-view.js)
        window.AiguillageDiagram.attach(modeler, document.getElementById("modeleur-canvas"),
                                        { avoid: ".djs-palette" }).open([]);
        fillPicker();
        showProblems(data.problems);
        state.dirty = false;
        root.setAttribute("data-ready", "true");
      }, function () {
        // A diagram the modeler cannot draw (an imported file with broken flows): say so,
        // list the check's problems with their lines, and never save an empty diagram over it.
        say(T.unreadable);
        saveButton.disabled = true;
        showProblems(data.problems || []);
        root.setAttribute("data-ready", "true");
      });
    })
    .catch(function () { say(T.loadFailed); });
})();

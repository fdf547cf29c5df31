// The modeler panel's words: elements named by their French kind and name, deadlines as a
// number and a unit. Deadlines are still written as today (dueIn « P15D », « PT48H », « P2W »,
// « P3M », or dueInWorkingDays « 15 »; dueRelative « -7D:date_audience » from a date of the
// case), so the engine reads them unchanged; the limits match
// engine/core/timers.py (DEADLINE_MAX) and the messages engine/core/messages.py (deadline.*).
(function () {
  "use strict";
  var UNITS = {
    days: { letter: "D", max: 3650 },
    working_days: { max: 365 },
    hours: { letter: "H", time: true, max: 87600 },
    weeks: { letter: "W", max: 521 },
    months: { letter: "M", max: 120 }
  };
  var HUMAN = ["bpmn:UserTask", "bpmn:ManualTask", "bpmn:Task"];

  function unquote(text) { return (text || "").trim().replace(/^["']|["']$/g, "").trim(); }

  // « P15D » → {number: 15, unit: "days"}; a value written otherwise → null
  function readDuration(text) {
    var v = unquote(text).toUpperCase();
    var m = /^P(\d+)([DWMY])$/.exec(v);
    if (m) {
      var n = parseInt(m[1], 10);
      if (m[2] === "Y") { return { number: n * 12, unit: "months" }; }
      return { number: n, unit: { D: "days", W: "weeks", M: "months" }[m[2]] };
    }
    m = /^P(?:(\d+)D)?T(\d+)H$/.exec(v);
    if (m) { return { number: parseInt(m[1] || "0", 10) * 24 + parseInt(m[2], 10), unit: "hours" }; }
    return null;
  }

  // a step's deadline properties → {number, unit}, {other: "1 mois 15 jours"} or null (none)
  function readDeadline(props) {
    if (props.dueIn) {
      return readDuration(props.dueIn) || { other: unquote(props.dueIn) };
    }
    if (props.dueInWorkingDays) {
      var w = unquote(props.dueInWorkingDays);
      return /^\d+$/.test(w) ? { number: parseInt(w, 10), unit: "working_days" } : { other: w };
    }
    return null;
  }

  function writeDuration(number, unit) {
    var u = UNITS[unit];
    return "P" + (u.time ? "T" : "") + number + u.letter;
  }

  // the properties to write for « number unit », the other one cleared
  function writeDeadline(number, unit) {
    if (unit === "working_days") { return { dueIn: null, dueInWorkingDays: String(number) }; }
    return { dueIn: writeDuration(number, unit), dueInWorkingDays: null };
  }

  // a deadline counted from a date of the case (dueRelative « -7D:date_audience », see
  // engine/core/timers.py) → {number, unit, before, field}, {other: text} or null (none)
  var RELATIVE_UNITS = { D: "days", WD: "working_days", M: "months" };
  function readRelative(props) {
    var v = unquote(props.dueRelative);
    if (!v) { return null; }
    var m = /^([+-])\s*(\d+)\s*(WD|D|M)\s*:\s*([A-Za-z_][A-Za-z0-9_]*)$/i.exec(v);
    if (!m) { return { other: v }; }
    return { number: parseInt(m[2], 10), unit: RELATIVE_UNITS[m[3].toUpperCase()],
             before: m[1] === "-", field: m[4] };
  }

  function writeRelative(number, unit, before, field) {
    var letter = { days: "D", working_days: "WD", months: "M" }[unit];
    return (before ? "-" : "+") + number + letter + ":" + field;
  }

  // a step's or a timer's period rule (period « shift:treve_hivernale », see
  // engine/core/calendar.py) → {rule: "shift" | "suspend", key}, {other: text} or null (none)
  var PERIOD_RULES = ["shift", "suspend"];
  function readPeriod(props) {
    var v = unquote(props.period);
    if (!v) { return null; }
    var colon = v.indexOf(":");  // as the engine reads it: the rule, a colon, the key
    var rule = colon === -1 ? "" : v.slice(0, colon).trim();
    var key = colon === -1 ? "" : v.slice(colon + 1).trim();
    if (PERIOD_RULES.indexOf(rule) === -1 || !key) { return { other: v }; }
    return { rule: rule, key: key };
  }

  function writePeriod(rule, key) { return rule ? rule + ":" + key : null; }

  // « 11-01 » → « 1er novembre » (months: the twelve French names, January first)
  function dayOfYear(mmdd, months) {
    var m = /^(\d{2})-(\d{2})$/.exec(mmdd || "");
    if (!m) { return mmdd || ""; }
    var day = parseInt(m[2], 10);
    return (day === 1 ? "1er" : String(day)) + " " + months[parseInt(m[1], 10) - 1];
  }

  // what is wrong with the typed number for this unit: "number", "min", "max" or null
  function problem(text, unit) {
    var v = (text || "").trim();
    if (!/^-?\d+$/.test(v)) { return "number"; }
    var n = parseInt(v, 10);
    if (n < 1) { return "min"; }
    if (n > UNITS[unit].max) { return "max"; }
    return null;
  }

  function hasTimer(bo) {
    return (bo.eventDefinitions || []).some(function (d) {
      return d.$type === "bpmn:TimerEventDefinition";
    });
  }

  // the element's kind, a key of the panel's texts (T.kinds)
  function kind(element) {
    var t = element.type, bo = element.businessObject || {};
    if (HUMAN.indexOf(t) !== -1) { return "step"; }
    if (t === "bpmn:ExclusiveGateway" || t === "bpmn:InclusiveGateway") { return "choice"; }
    if (t === "bpmn:ParallelGateway") { return "parallel"; }
    if (t === "bpmn:SequenceFlow") { return "flow"; }
    if (t === "bpmn:StartEvent") { return "start"; }
    if (t === "bpmn:EndEvent") { return "end"; }
    if (hasTimer(bo)) { return "timer"; }
    if (t === "bpmn:IntermediateThrowEvent") { return "milestone"; }
    if (t === "bpmn:ReceiveTask" || (bo.eventDefinitions || []).some(function (d) {
      return d.$type === "bpmn:MessageEventDefinition";
    })) { return "answer"; }
    if (t === "bpmn:Lane") { return "lane"; }
    if (t === "bpmn:CallActivity" || t === "bpmn:SubProcess") { return "subprocess"; }
    if (t === "bpmn:TextAnnotation") { return "note"; }
    if (t === "bpmn:Participant") { return "pool"; }
    return "other";
  }
  var ORDER = ["step", "choice", "parallel", "timer", "answer", "milestone", "start", "end",
               "subprocess",
               "flow", "lane", "pool", "note", "other"];

  function nameOf(element) {
    var bo = element.businessObject || {};
    return (bo.name || bo.text || "").replace(/\s+/g, " ").trim();
  }

  // « Étape : Accueillir et écouter », « Flux : Oui (Canal d'entrée ? → Rendez-vous) », « Début »
  function label(element, T) {
    var k = kind(element);
    var name = nameOf(element);
    if (k === "flow") {
      var ends = (element.source ? (nameOf(element.source) || T.kinds[kind(element.source)]) : "?") +
        " → " + (element.target ? (nameOf(element.target) || T.kinds[kind(element.target)]) : "?");
      return T.kinds.flow + " : " + (name ? name + " (" + ends + ")" : ends);
    }
    if (!name) { return k === "start" || k === "end" ? T.kinds[k] : T.kinds[k] + " " + T.unnamed; }
    return T.kinds[k] + " : " + name;
  }

  // where an element is, to tell apart two of the same name: « (sur « Étape ») » for a timer
  // on a step, « (après « Élément ») » otherwise
  function context(element, T) {
    if (element.host) { return T.on.replace("{n}", nameOf(element.host) || T.kinds[kind(element.host)]); }
    var before = (element.incoming || [])[0];
    if (before && before.source) {
      return T.after.replace("{n}", nameOf(before.source) || T.kinds[kind(before.source)]);
    }
    return "";
  }

  window.AiguillageWords = {
    UNITS: UNITS, ORDER: ORDER, unquote: unquote, readDuration: readDuration,
    readDeadline: readDeadline, readRelative: readRelative, writeRelative: writeRelative,
    writeDuration: writeDuration, writeDeadline: writeDeadline,
    readPeriod: readPeriod, writePeriod: writePeriod, dayOfYear: dayOfYear,
    problem: problem, kind: kind, label: label, context: context
  };
})();

// The spiffworkflow:* extension elements our circuits use, as a bpmn-moddle descriptor, so
// the modeler reads and writes <spiffworkflow:properties> as typed elements.
(function () {
  "use strict";
  window.AiguillageSpiffModdle = {
    name: "SpiffWorkflow",
    uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
    prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      {
        name: "Properties",
        superClass: ["Element"],
        properties: [{ name: "properties", type: "Property", isMany: true }]
      },
      {
        name: "Property",
        superClass: ["Element"],
        properties: [
          { name: "name", type: "String", isAttr: true },
          { name: "value", type: "String", isAttr: true }
        ]
      },
      {
        name: "InstructionsForEndUser",
        superClass: ["Element"],
        properties: [{ name: "text", type: "String", isBody: true }]
      }
    ]
  };
})();

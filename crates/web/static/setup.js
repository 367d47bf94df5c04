// Setup proposes the browser's own time zone when the hub has none of its
// own yet (UTC, the default). Without JavaScript the field keeps the hub's
// zone and its searchable list.
"use strict";
(function () {
  var field = document.getElementById("timezone");
  if (!field || field.dataset.propose !== "true" || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var known = Array.prototype.some.call(document.querySelectorAll("#zones option"), function (option) {
    return option.value === zone;
  });
  if (zone && known) field.value = zone;
})();

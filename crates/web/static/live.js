// Live activity: rows arrive over server-sent events while the page is open.
// Without JavaScript the page works the same, without live rows.
"use strict";
(function () {
  var table = document.getElementById("activity");
  if (!table || !table.dataset.live || !window.EventSource) return;
  var body = table.tBodies[0];
  var source = new EventSource(table.dataset.live);
  source.onmessage = function (message) {
    var entry = JSON.parse(message.data);
    var row = document.createElement("tr");
    row.className = entry.class;
    [["When", entry.at, "td"], ["What", entry.event, "td"], ["Who", entry.who, "th"],
     ["Where", entry.place, "td"], ["Details", entry.detail, "td"]].forEach(function (cell) {
      var element = document.createElement(cell[2]);
      element.dataset.label = cell[0];
      element.textContent = cell[1];
      row.appendChild(element);
    });
    body.insertBefore(row, body.firstChild);
    var empty = document.querySelector(".empty");
    if (empty) empty.remove();
  };
})();

// Live activity: rows arrive over server-sent events while the page is open,
// under a "Today" heading of their own. Without JavaScript the page works
// the same, without live rows.
"use strict";
(function () {
  var table = document.getElementById("activity");
  if (!table || !table.dataset.live || !window.EventSource) return;
  var today = null;
  function todayBody() {
    if (today) return today;
    var first = table.tBodies[0];
    var heading = first && first.querySelector("tr.day th");
    if (heading && heading.textContent.indexOf("Today") === 0) {
      today = first;
      return today;
    }
    today = document.createElement("tbody");
    var row = today.insertRow();
    row.className = "day";
    var cell = document.createElement("th");
    cell.scope = "colgroup";
    cell.colSpan = 5;
    cell.textContent = "Today";
    row.appendChild(cell);
    table.insertBefore(today, first || null);
    return today;
  }
  var source = new EventSource(table.dataset.live);
  source.onmessage = function (message) {
    var entry = JSON.parse(message.data);
    var row = document.createElement("tr");
    row.className = entry.class;
    var time = document.createElement("td");
    time.dataset.label = "Time";
    var stamp = document.createElement("time");
    stamp.title = entry.at;
    stamp.textContent = entry.time;
    time.appendChild(stamp);
    var what = document.createElement("td");
    what.dataset.label = "What";
    var wrap = document.createElement("span");
    wrap.className = "what";
    var icon = document.createElement("i");
    icon.className = "i i-" + entry.icon;
    wrap.appendChild(icon);
    var words = document.createElement("span");
    if (entry.chip) words.className = "chip " + entry.chip;
    words.textContent = entry.event;
    wrap.appendChild(words);
    what.appendChild(wrap);
    row.appendChild(time);
    row.appendChild(what);
    [["Who", entry.who, "th"], ["Where", entry.place, "td"], ["Details", entry.detail, "td"]].forEach(function (cell) {
      var element = document.createElement(cell[2]);
      if (cell[2] === "th") element.scope = "row";
      element.dataset.label = cell[0];
      element.textContent = cell[1];
      row.appendChild(element);
    });
    var body = todayBody();
    body.insertBefore(row, body.rows[1] || null);
    var empty = document.querySelector(".empty");
    if (empty) empty.remove();
  };
})();

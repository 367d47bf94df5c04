// The user form's Generate button, in place: asks the hub for a free code
// and puts it in the code field, after asking before it replaces a typed
// one. Without JavaScript the button submits the form and the hub answers
// with the same page, the proposal beside a typed code (never over it).
"use strict";
(function () {
  var button = document.getElementById("generate");
  var field = document.getElementById("code");
  var kind = document.getElementById("kind");
  if (!button || !field || !window.fetch) return;
  button.addEventListener("click", function (event) {
    event.preventDefault();
    if (field.value.trim() !== "" &&
        !window.confirm("Replace the code you typed with a new one?")) return;
    var url = button.dataset.proposal + "?kind=" + encodeURIComponent(kind ? kind.value : "standard");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (reply) { return reply.ok ? reply.json() : Promise.reject(reply.status); })
      .then(function (proposal) {
        field.value = proposal.code;
        field.focus();
      })
      .catch(function () {
        // The hub could not propose one: fall back to the form's own way.
        button.form.requestSubmit(button);
      });
  });
})();

// The times: a preset ticks its days (the day boxes show only for Custom
// days); "Add another time" adds a row in place; "(next day)" follows the
// hours. Without JavaScript the same controls work through the hub.
(function () {
  var presets = {
    every: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    weekdays: ["mon", "tue", "wed", "thu", "fri"],
    weekends: ["sat", "sun"]
  };
  var list = document.getElementById("windows");
  if (!list) return;

  function wire(row) {
    var select = row.querySelector("select.preset");
    var days = row.querySelector("[data-custom]");
    var start = row.querySelector("input[name$='_start']");
    var end = row.querySelector("input[name$='_end']");
    var nextDay = row.querySelector(".nextday");
    function showDays() {
      var set = presets[select.value];
      days.hidden = !!set;
      if (set) {
        days.querySelectorAll("input[type=checkbox]").forEach(function (box) {
          box.checked = set.indexOf(box.name.split("_")[1]) >= 0;
        });
      }
    }
    function showNextDay() {
      nextDay.hidden = !(start.value && end.value && end.value < start.value);
    }
    select.addEventListener("change", showDays);
    start.addEventListener("input", showNextDay);
    end.addEventListener("input", showNextDay);
    showDays();
  }

  Array.prototype.forEach.call(list.querySelectorAll(".window"), wire);

  // "At all times" hides the times and leaves them out of the form (a
  // disabled field is not sent), so what is saved is what is shown; the
  // hub refuses times sent with "At all times" from a page without this.
  var times = document.getElementById("times");
  var choices = document.querySelectorAll("input[name=when]");
  function showTimes() {
    var always = !!document.querySelector("input[name=when][value=always]:checked");
    times.hidden = always;
    times.querySelectorAll("input, select, button").forEach(function (control) {
      control.disabled = always;
    });
  }
  choices.forEach(function (choice) { choice.addEventListener("change", showTimes); });
  // A page with a refused "At all times" and times keeps showing both.
  if (!document.getElementById("schedule_error")) showTimes();

  var add = document.getElementById("add_window");
  if (!add) return;
  add.addEventListener("click", function (event) {
    var rows = list.querySelectorAll(".window");
    if (rows.length >= 28) return;
    event.preventDefault();
    var index = rows.length;
    var row = rows[rows.length - 1].cloneNode(true);
    row.dataset.index = String(index);
    row.setAttribute("aria-labelledby", "w" + index + "_title");
    row.querySelector(".window-title").textContent = "Time " + (index + 1);
    row.querySelector("[data-custom]").setAttribute("aria-label", "Custom days of time " + (index + 1));
    row.querySelectorAll("[name], [id], label[for], [aria-labelledby]").forEach(function (element) {
      ["name", "id", "for", "aria-labelledby"].forEach(function (attribute) {
        var value = element.getAttribute(attribute);
        if (value) element.setAttribute(attribute, value.replace(/^w\d+_/, "w" + index + "_"));
      });
    });
    row.querySelectorAll("input.hhmm, input[type=date]").forEach(function (input) { input.value = ""; });
    row.querySelector("select.preset").value = "weekdays";
    row.querySelector("select.every").value = "1";
    row.querySelector(".nextday").hidden = true;
    list.appendChild(row);
    wire(row);
    document.querySelector("input[name=when][value=windows]").checked = true;
    if (index + 1 >= 28) add.hidden = true;
    row.querySelector("select.preset").focus();
  });
})();

// Visit days: "(next day)" follows the hours, and "Add another visit day"
// adds a row in place. Without JavaScript the button asks the hub.
(function () {
  var list = document.getElementById("visits");
  if (!list) return;
  function wire(row) {
    var start = row.querySelector("input[name$='_start']");
    var end = row.querySelector("input[name$='_end']");
    var nextDay = row.querySelector(".nextday");
    function showNextDay() {
      nextDay.hidden = !(start.value && end.value && end.value < start.value);
    }
    start.addEventListener("input", showNextDay);
    end.addEventListener("input", showNextDay);
  }
  Array.prototype.forEach.call(list.querySelectorAll(".visit"), wire);
  var add = document.getElementById("add_visit");
  if (!add) return;
  add.addEventListener("click", function (event) {
    var rows = list.querySelectorAll(".visit");
    if (rows.length >= 60) return;
    event.preventDefault();
    var index = rows.length;
    var row = rows[rows.length - 1].cloneNode(true);
    row.dataset.index = String(index);
    row.querySelectorAll("[name], [id], label[for]").forEach(function (element) {
      ["name", "id", "for"].forEach(function (attribute) {
        var value = element.getAttribute(attribute);
        if (value) element.setAttribute(attribute, value.replace(/^v\d+_/, "v" + index + "_"));
      });
    });
    row.querySelector("label").textContent = "Visit " + (index + 1) + " on";
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    row.querySelector(".nextday").hidden = true;
    list.appendChild(row);
    wire(row);
    document.querySelector("input[name=when][value=windows]").checked = true;
    if (index + 1 >= 60) add.hidden = true;
    row.querySelector("input[type=date]").focus();
  });
})();

// 24-hour times as people type them: "9" is 09:00, "930" and "9.30" are
// 09:30. The hub reads them the same way; this only shows it at once.
(function () {
  function tidy(text) {
    var t = text.trim().replace(".", ":");
    var m = /^(\d{1,2})(?::?(\d{2}))?$/.exec(t);
    if (!m) return text;
    var h = parseInt(m[1], 10), mm = m[2] || "00";
    if (h > 24 || parseInt(mm, 10) > 59) return text;
    return (h < 10 ? "0" + h : String(h)) + ":" + mm;
  }
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.classList && input.classList.contains("hhmm")) {
      input.value = tidy(input.value);
      input.dispatchEvent(new Event("input"));
    }
  });
})();

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
        // The preview follows a code put in by script too.
        field.dispatchEvent(new Event("input", {bubbles: true}));
        field.focus();
      })
      .catch(function () {
        // The hub could not propose one: fall back to the form's own way.
        button.form.requestSubmit(button);
      });
  });
})();

// The times and visit days: a preset ticks its days (the day boxes show
// only for Custom days); "Add another time" and "Add another visit day" add
// a row in place; "(next day)" follows the hours. Without JavaScript the
// same controls work through the hub.
(function () {
  var presets = {
    every: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    weekdays: ["mon", "tue", "wed", "thu", "fri"],
    weekends: ["sat", "sun"]
  };

  // "(next day)" beside a row whose end is earlier than its start.
  function followNextDay(row) {
    var start = row.querySelector("input[name$='_start']");
    var end = row.querySelector("input[name$='_end']");
    var nextDay = row.querySelector(".nextday");
    function showNextDay() {
      nextDay.hidden = !(start.value && end.value && end.value < start.value);
    }
    start.addEventListener("input", showNextDay);
    end.addEventListener("input", showNextDay);
  }

  // A copy of a list's last row as row number `index`: its fields renamed
  // from "w3_…" (or "v3_…") to the new number, emptied, "(next day)" hidden.
  function copyRow(rows, prefix, index, attributes) {
    var row = rows[rows.length - 1].cloneNode(true);
    var numbered = new RegExp("^" + prefix + "\\d+_");
    row.dataset.index = String(index);
    row.querySelectorAll("[name], [id], label[for], [aria-labelledby]").forEach(function (element) {
      attributes.forEach(function (attribute) {
        var value = element.getAttribute(attribute);
        if (value) element.setAttribute(attribute, value.replace(numbered, prefix + index + "_"));
      });
    });
    row.querySelectorAll("input.hhmm, input[type=date]").forEach(function (input) { input.value = ""; });
    row.querySelector(".nextday").hidden = true;
    return row;
  }

  // An "Add another …" button that adds a row in place, up to `most`.
  function addsRows(button, list, selector, most, make) {
    if (!button) return;
    button.addEventListener("click", function (event) {
      var rows = list.querySelectorAll(selector);
      if (rows.length >= most) return;
      event.preventDefault();
      var focus = make(rows, rows.length);
      document.querySelector("input[name=when][value=windows]").checked = true;
      if (rows.length + 1 >= most) button.hidden = true;
      focus.focus();
    });
  }

  var list = document.getElementById("windows");
  if (!list) return;

  function wire(row) {
    var select = row.querySelector("select.preset");
    var days = row.querySelector("[data-custom]");
    function showDays() {
      var set = presets[select.value];
      days.hidden = !!set;
      if (set) {
        days.querySelectorAll("input[type=checkbox]").forEach(function (box) {
          box.checked = set.indexOf(box.name.split("_")[1]) >= 0;
        });
      }
    }
    select.addEventListener("change", showDays);
    followNextDay(row);
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

  addsRows(document.getElementById("add_window"), list, ".window", 28, function (rows, index) {
    var row = copyRow(rows, "w", index, ["name", "id", "for", "aria-labelledby"]);
    row.setAttribute("aria-labelledby", "w" + index + "_title");
    row.querySelector(".window-title").textContent = "Time " + (index + 1);
    row.querySelector("[data-custom]").setAttribute("aria-label", "Custom days of time " + (index + 1));
    row.querySelector("select.preset").value = "weekdays";
    row.querySelector("select.every").value = "1";
    list.appendChild(row);
    wire(row);
    return row.querySelector("select.preset");
  });

  var visits = document.getElementById("visits");
  if (!visits) return;
  Array.prototype.forEach.call(visits.querySelectorAll(".visit"), followNextDay);
  addsRows(document.getElementById("add_visit"), visits, ".visit", 60, function (rows, index) {
    var row = copyRow(rows, "v", index, ["name", "id", "for"]);
    row.querySelector("label").textContent = "Visit " + (index + 1) + " on";
    visits.appendChild(row);
    followNextDay(row);
    return row.querySelector("input[type=date]");
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

// The preview beside the form ("What Dog walker will get"): asked of the
// hub again a moment after each change, so it is read by the same rules as
// Save. Without JavaScript it shows the form as loaded or last sent.
(function () {
  var preview = document.getElementById("preview");
  var form = preview && preview.previousElementSibling;
  if (!preview || !form || form.tagName !== "FORM" || !window.fetch) return;
  var timer = null;
  var asked = 0;
  function refresh() {
    var mine = ++asked;
    var body = new URLSearchParams(new FormData(form));
    fetch(preview.dataset.refresh, {method: "POST", credentials: "same-origin", body: body})
      .then(function (reply) { return reply.ok ? reply.text() : Promise.reject(reply.status); })
      .then(function (html) {
        // An older answer arriving late never replaces a newer one.
        if (mine === asked) preview.innerHTML = html;
      })
      .catch(function () { /* the preview stays as it was; Save still says what is wrong */ });
  }
  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  // Rows added or removed in place change what is sent.
  form.addEventListener("click", function (event) {
    if (event.target.closest("#add_window, #add_visit")) soon();
  });
})();

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

// Live history: the newest page of a history goes on with the events that commit after
// it, from the server's event stream (/ui/…/history-live, same origin, the same checks as
// the page). Without JavaScript the page is a plain list; nothing here is inline.
(function () {
  "use strict";
  var source = null;

  function say(text) {
    var status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }

  function connect() {
    if (source) {
      source.close();
      source = null;
    }
    var body = document.querySelector("tbody[data-live]");
    if (!body || !window.EventSource) return;
    source = new EventSource(body.getAttribute("data-live"));
    source.addEventListener("open", function () {
      say("Live: new events appear at the top as they happen.");
    });
    source.addEventListener("change", function (event) {
      body.insertAdjacentHTML("afterbegin", event.data);
      body.closest("table").hidden = false;
      var empty = document.getElementById("no-events");
      if (empty) empty.remove();
    });
    source.addEventListener("gone", function () {
      source.close();
      say("Live updates stopped: reload the page.");
    });
  }

  document.addEventListener("DOMContentLoaded", connect);
  // the filter form swaps the list in place (htmx): follow the new one
  document.addEventListener("htmx:afterSettle", connect);
})();

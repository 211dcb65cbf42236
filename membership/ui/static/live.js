// Live history: the newest page of a history goes on with the events that commit after
// it, from the server's event stream (/ui/…/history-live, same origin, the same checks as
// the page). Without JavaScript the page is a plain list; nothing here is inline.
// A stream holds one of the server's threads: it is closed while the tab is hidden and
// resumed, from the last event shown, when it is visible again.
(function () {
  "use strict";
  var source = null;
  var body = null;
  var last = null; // the cursor of the last event shown

  function say(text) {
    var status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }

  function stop() {
    if (source) {
      source.close();
      source = null;
    }
  }

  function start() {
    stop();
    if (!body || !window.EventSource || document.hidden) return;
    var url = new URL(body.getAttribute("data-live"), window.location.href);
    if (last) url.searchParams.set("after", last);
    source = new EventSource(url.toString());
    source.addEventListener("open", function () {
      say("Live: new events appear at the top as they happen.");
    });
    source.addEventListener("change", function (event) {
      last = event.lastEventId || last;
      body.insertAdjacentHTML("afterbegin", event.data);
      body.closest("table").hidden = false;
      var empty = document.getElementById("no-events");
      if (empty) empty.remove();
    });
    source.addEventListener("gone", function () {
      stop();
      say("Live updates stopped: reload the page.");
    });
  }

  function attach() {
    // the page, or the list the filter form swapped in (htmx): follow that one
    var found = document.querySelector("tbody[data-live]");
    if (found !== body) {
      body = found;
      last = null;
    }
    start();
  }

  document.addEventListener("DOMContentLoaded", attach);
  document.addEventListener("htmx:afterSettle", attach);
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      stop();
      say("Live updates paused while this tab is hidden.");
    } else {
      start();
    }
  });
})();

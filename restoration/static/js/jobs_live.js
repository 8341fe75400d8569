/* The jobs list follows jobs still queued or processing: while the list says some are in flight
   (data-in-flight), it is fetched again every few seconds and swapped in place, so a batch sent
   from the playground turns Completed without a reload. It stops once nothing is in flight, when
   the tab is hidden for long, or after ten minutes (a reload starts it again). */
(function () {
  "use strict";
  var EVERY_MS = 3000;
  var STOP_AFTER_MS = 10 * 60 * 1000;
  var started = Date.now();

  function current() { return document.getElementById("jobs-list"); }

  function refresh() {
    var list = current();
    if (!list || !list.hasAttribute("data-in-flight") || Date.now() - started > STOP_AFTER_MS) return;
    if (document.hidden) { setTimeout(refresh, EVERY_MS); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("jobs-list");
        if (fresh) {
          current().replaceWith(fresh);
          if (window.cfLocalTime) window.cfLocalTime(fresh); // times in the viewer's zone, as on load
        }
        setTimeout(refresh, EVERY_MS);
      })
      .catch(function () { setTimeout(refresh, EVERY_MS * 3); });
  }

  setTimeout(refresh, EVERY_MS);
})();

// Pages that follow a deal (a request, an application) refresh themselves when it changes. An element marked
// data-watch names a same-origin URL answering {"version": "..."}; every 15 seconds while the tab is visible the
// page asks it, and reloads when the version is no longer the one it was drawn at (unless something is being
// typed into a form). Without this script the page
// is simply as fresh as its last load.
(function () {
  "use strict";
  var INTERVAL_MS = 15000;
  var typing = false;  // never reload over what someone is writing: they see the change when they send it
  document.addEventListener("input", function () { typing = true; });

  function start(element) {
    var url = element.getAttribute("data-watch");
    var drawn = element.getAttribute("data-version");
    var busy = false;
    function check() {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          busy = false;
          if (body && body.version && body.version !== drawn && !typing) {
            window.location.reload();
          }
        })
        .catch(function () { busy = false; });
    }
    window.setInterval(check, INTERVAL_MS);
    document.addEventListener("visibilitychange", check);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var watched = document.querySelectorAll("[data-watch]");
    for (var i = 0; i < watched.length; i += 1) {
      start(watched[i]);
    }
  });
}());

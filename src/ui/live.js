// Reloads the Live Metrics table from the server every second while the page is shown. The
// server renders (and escapes) the table; this only swaps it in.
(function () {
  "use strict";
  var target = document.getElementById("live");
  if (!target) {
    return;
  }
  var stopped = false;
  function refresh() {
    if (stopped || document.hidden) {
      return;
    }
    fetch("/live/instances", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        // A redirect means the session needs a token again: the page stays as it was.
        if (response.redirected || response.status === 401) {
          stopped = true;
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          target.innerHTML = html;
          target.removeAttribute("data-offline");
        }
      })
      .catch(function () {
        target.setAttribute("data-offline", "");
      });
  }
  setInterval(refresh, 1000);
})();

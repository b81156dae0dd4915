// Refreshes the element marked data-src every data-every seconds with the server's fresh
// rendering of it (same origin, escaped by the server), when its digest has changed.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var every = Math.max(1, parseInt(live.getAttribute("data-every"), 10) || 5) * 1000;
  function tick() {
    fetch(live.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { return null; }
        var digest = r.headers.get("X-Digest");
        if (digest === live.getAttribute("data-digest")) { return null; }
        return r.text().then(function (html) {
          live.innerHTML = html;
          live.setAttribute("data-digest", digest);
        });
      })
      .catch(function () {})
      .then(function () { window.setTimeout(tick, every); });
  }
  window.setTimeout(tick, every);
}());

// Live updates for the mesa status page: one EventSource on /ui/live. A new decision is
// prepended to an unfiltered timeline, announced to screen readers, and the rest of the
// page (counts, port colours) is fetched again and swapped in, without a reload. Nothing
// is swapped while the keyboard focus is in a form field, so nobody loses what they type.
(function () {
  "use strict";
  var src = document.body && document.body.getAttribute("data-live");
  if (!src || !window.EventSource) return;
  var state = document.getElementById("live-state");
  var live = document.getElementById("live");
  function say(text) { if (state) state.textContent = text; }

  function typing() {
    var el = document.activeElement;
    return el && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  // A burst of decisions costs one fetch a second at most, not one per decision.
  var refreshing = false, due = null;
  function later() {
    if (due) return;
    due = setTimeout(function () { due = null; refresh(); }, 1000);
  }
  function refresh() {
    if (refreshing) return later();
    if (typing()) return;
    refreshing = true;
    fetch(location.href, { credentials: "same-origin", redirect: "manual" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (!fresh || !main) return;
        var seen = {};
        main.querySelectorAll(".decision.fresh").forEach(function (d) { seen[d.id] = true; });
        main.replaceWith(fresh);
        fresh.querySelectorAll(".decision").forEach(function (d) { if (seen[d.id]) d.classList.add("fresh"); });
      })
      .catch(function () {})
      .then(function () { refreshing = false; });
  }

  function prepend(html) {
    var timeline = document.getElementById("timeline");
    if (!timeline || timeline.getAttribute("data-filtered") === "yes") return null;
    var holder = document.createElement("ol");
    holder.innerHTML = html;
    var item = holder.firstElementChild;
    if (!item) return null;
    var old = document.getElementById(item.id);
    if (old) old.remove();
    item.classList.add("fresh");
    timeline.insertBefore(item, timeline.firstChild);
    return item;
  }

  // Browsers allow few connections per server: a page that is left (or kept in the
  // back/forward cache) gives its stream back, and takes a new one when shown again.
  var es = null;
  function connect() {
    if (es) return;
    es = new EventSource(src);
    es.addEventListener("hello", function () { say("live updates: on"); });
    es.addEventListener("decision", onDecision);
    es.addEventListener("lagged", later);
    es.onerror = function () { say("live updates: reconnecting"); };
    es.onopen = function () { say("live updates: on"); };
  }
  window.addEventListener("pagehide", function () {
    if (es) { es.close(); es = null; }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { connect(); later(); }
  });
  connect();

  function onDecision(e) {
    var item = prepend(e.data);
    if (live) {
      var summary = item && item.querySelector(".summary");
      live.textContent = "New decision: " + (summary ? summary.textContent : "see the timeline");
    }
    // The rest of the page shows the decision's effects (counts, colours): fetch it again.
    later();
  }
})();

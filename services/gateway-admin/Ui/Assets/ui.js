// RouteIQ dashboard: the live parts of statically rendered pages (server-sent events).
(function () {
  "use strict";
  function follow(el) {
    if (el.dataset.following) { return; }
    el.dataset.following = "1";
    var out = el.querySelector("[data-log-text]");
    var stateEl = document.querySelector("[data-job-state]");
    var status = document.querySelector("[data-log-status]");
    var source = new EventSource(el.dataset.liveLog);
    var atBottom = function () { return out.scrollHeight - out.scrollTop - out.clientHeight < 40; };
    var write = function (text, replace) {
      var stick = atBottom();
      if (replace) { out.textContent = text; } else { out.textContent += text; }
      if (stick) { out.scrollTop = out.scrollHeight; }
      el.dataset.lines = String(out.textContent.split("\n").length);
    };
    source.addEventListener("open", function () { if (status) { status.textContent = "following"; } });
    source.addEventListener("reset", function (e) { write(JSON.parse(e.data), true); });
    source.addEventListener("log", function (e) { write(JSON.parse(e.data), false); });
    source.addEventListener("state", function (e) {
      var state = JSON.parse(e.data);
      if (stateEl) { stateEl.textContent = state; stateEl.dataset.jobState = state; }
    });
    source.addEventListener("end", function (e) {
      source.close();
      if (status) { status.textContent = "finished (" + JSON.parse(e.data) + ")"; }
      el.dataset.ended = "1";
    });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself (e.g. across a gateway-admin restart).
      if (status && !el.dataset.ended) { status.textContent = "reconnecting…"; }
    });
  }
  // A rollout's live part: each "html" event is the part rendered again by the server.
  function followRollout(el) {
    if (el.dataset.following) { return; }
    el.dataset.following = "1";
    var controls = document.querySelector("[data-rollout-controls]");
    var status = document.querySelector("[data-rollout-status]");
    var updates = 0;
    var source = new EventSource(el.dataset.liveRollout);
    source.addEventListener("open", function () { if (status) { status.textContent = "live"; } });
    source.addEventListener("html", function (e) {
      el.innerHTML = JSON.parse(e.data);
      updates++;
      el.dataset.updates = String(updates);
    });
    source.addEventListener("state", function (e) {
      var s = JSON.parse(e.data);
      if (controls) { controls.dataset.terminal = String(s.terminal); controls.dataset.paused = String(s.paused); }
    });
    source.addEventListener("unavailable", function (e) { if (status) { status.textContent = JSON.parse(e.data); } });
    source.addEventListener("end", function (e) {
      source.close();
      if (status) { status.textContent = "finished (" + JSON.parse(e.data) + ")"; }
      el.dataset.ended = "1";
    });
    source.addEventListener("error", function () {
      if (status && !el.dataset.ended) { status.textContent = "reconnecting…"; }
    });
  }
  function start() {
    document.querySelectorAll("[data-live-log]").forEach(follow);
    document.querySelectorAll("[data-live-rollout]").forEach(followRollout);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  // Streamed rendering inserts content after the first paint.
  new MutationObserver(start).observe(document.documentElement, { childList: true, subtree: true });
})();

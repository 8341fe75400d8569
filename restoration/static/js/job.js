/* The job page: live status from the job's event stream, and the before/after viewer.
   Without JavaScript the page still shows everything as of its last load (and refreshes
   itself while the job runs, from a <noscript> meta refresh). */
(function () {
  "use strict";
  var root = document.querySelector("[data-live]");
  if (!root) return;
  var TERMINAL = ["COMPLETED", "FAILED", "ERROR", "CANCELED"];
  var LABELS = { QUEUED: "Queued", PROCESSING: "Processing", COMPLETED: "Completed", FAILED: "Failed", ERROR: "Error", CANCELED: "Canceled" };
  var BADGES = { QUEUED: "badge-wait", PROCESSING: "badge-run", COMPLETED: "badge-ok", FAILED: "badge-bad", ERROR: "badge-bad", CANCELED: "badge-muted" };
  var currency = root.getAttribute("data-currency") || "USD";

  function field(name) { return root.querySelector('[data-field="' + name + '"]'); }
  function money(minor) {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency }).format(minor / 100);
  }
  function bytes(n) {
    if (n === null || n === undefined) return "";
    if (n < 1024) return n + " bytes";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }
  function seconds(s) {
    if (s < 60) return s.toFixed(1) + " s";
    var m = Math.floor(s / 60), r = Math.floor(s % 60);
    if (m < 60) return m + " min " + (r < 10 ? "0" : "") + r + " s";
    var h = Math.floor(m / 60); m = m % 60;
    return h + " h " + (m < 10 ? "0" : "") + m + " min";
  }

  // --- elapsed time ticks locally between events
  var created = new Date(root.getAttribute("data-created-at"));
  var completedAttr = root.getAttribute("data-completed-at");
  var finished = completedAttr ? new Date(completedAttr) : null;
  function tick() {
    var end = finished || new Date();
    field("elapsed").textContent = seconds(Math.max((end - created) / 1000, 0));
  }
  tick();
  var ticker = finished ? null : setInterval(tick, 1000);

  // --- live events
  var logs = field("logs");
  function appendLog(line) {
    var empty = logs.querySelector(".log-empty");
    if (empty) empty.remove();
    var row = document.createElement("div");
    var time = document.createElement("time");
    time.setAttribute("datetime", line.at);
    time.textContent = new Date(line.at).toLocaleTimeString();
    row.appendChild(time);
    row.appendChild(document.createTextNode(line.message));
    logs.appendChild(row);
    logs.scrollTop = logs.scrollHeight;
  }

  function applyStatus(s) {
    var label = LABELS[s.status] || s.status;
    root.setAttribute("data-status", s.status);
    field("status").textContent = label;
    var badge = field("status-badge");
    badge.textContent = label;
    badge.className = "badge " + (BADGES[s.status] || "badge-muted");
    field("stage").textContent = s.live.stage;
    field("working-text") && (field("working-text").textContent = s.live.stage);
    field("faces").textContent = s.live.faces_detected === null ? "—" : s.live.faces_detected;
    var terminal = TERMINAL.indexOf(s.status) >= 0;
    field("cancel-form").hidden = !terminal ? false : true;
    if (s.error) {
      field("error").hidden = false;
      field("error-status").textContent = label + ":";
      field("error-text").textContent = s.error;
    }
    if (terminal) {
      finished = s.completed_at ? new Date(s.completed_at) : new Date();
      if (ticker) { clearInterval(ticker); ticker = null; }
      tick();
      if (field("working")) field("working").hidden = true;
      field("charged").innerHTML = "";
      if (s.live.charged) {
        field("charged").textContent = money(s.live.charged);
      } else {
        var tag = document.createElement("span");
        tag.className = "badge badge-muted";
        tag.textContent = "not charged";
        field("charged").appendChild(tag);
      }
    }
    if (s.status === "COMPLETED" && s.output && s.output.media_url) {
      showOutput(s.output.media_url[0], s.live.output_size);
    }
    if (terminal) refreshFacts();
  }

  // Once the job is final, the Details list (started, finished, queue wait, processing, files
  // kept until, charged) is read again from the page as the server now renders it.
  var factsRefreshed = false;
  function refreshFacts() {
    if (factsRefreshed || !window.fetch || !window.DOMParser) return;
    factsRefreshed = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector('[data-field="facts"]');
        var facts = field("facts");
        if (!fresh || !facts) return;
        facts.innerHTML = fresh.innerHTML;
        if (window.cfLocalTime) window.cfLocalTime(facts);
      })
      .catch(function () {});
  }

  function showOutput(url, size) {
    var img = field("output-img");
    if (img && !img.getAttribute("src")) {
      img.src = url;
      img.hidden = false;
      if (size) compare.setSize(size.width, size.height);
      compare.enable();
    }
    if (size) {
      field("output-size").textContent = size.width + "×" + size.height + " px" + (size.bytes !== null ? " · " + bytes(size.bytes) : "");
    }
    field("download").hidden = false;
  }

  var status = root.getAttribute("data-status");
  if (TERMINAL.indexOf(status) < 0 && window.EventSource) {
    var source = new EventSource(root.getAttribute("data-events-url"));
    source.addEventListener("log", function (event) { appendLog(JSON.parse(event.data)); });
    source.addEventListener("status", function (event) { applyStatus(JSON.parse(event.data)); });
    source.addEventListener("done", function () { source.close(); });
  }

  // --- before/after comparison with zoom
  var compare = (function () {
    var box = root.querySelector("[data-compare]");
    if (!box) return { setSize: function () {}, enable: function () {} };
    var stage = box.querySelector(".compare-stage");
    var before = box.querySelector(".compare-before");
    var handle = box.querySelector(".compare-handle");
    var range = box.querySelector("[data-compare-range]");
    var width = parseInt(box.getAttribute("data-width"), 10) || 0;
    var height = parseInt(box.getAttribute("data-height"), 10) || 0;
    var enabled = !!box.querySelector(".compare-after[src]");

    function position(percent) {
      percent = Math.min(100, Math.max(0, percent));
      range.value = percent;
      if (!enabled) return;
      before.style.clipPath = "inset(0 " + (100 - percent) + "% 0 0)";
      handle.style.left = percent + "%";
    }
    function zoom(level) {
      box.querySelectorAll("[data-zoom]").forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-zoom") === String(level) ? "true" : "false");
      });
      if (level === "fit" || !width) {
        stage.style.width = "";
      } else {
        // At 100% one output pixel is one CSS pixel; the viewport scrolls.
        stage.style.width = (width * parseFloat(level)) + "px";
      }
    }
    range.addEventListener("input", function () { position(parseFloat(range.value)); });
    box.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () { zoom(b.getAttribute("data-zoom")); });
    });
    var dragging = false;
    function fromPointer(event) {
      var rect = stage.getBoundingClientRect();
      position(((event.clientX - rect.left) / rect.width) * 100);
    }
    stage.addEventListener("pointerdown", function (event) { if (!enabled) return; dragging = true; stage.setPointerCapture(event.pointerId); fromPointer(event); });
    stage.addEventListener("pointermove", function (event) { if (dragging) fromPointer(event); });
    stage.addEventListener("pointerup", function () { dragging = false; });
    range.disabled = !enabled;
    return {
      setSize: function (w, h) { width = w; height = h; stage.style.aspectRatio = w + " / " + h; },
      enable: function () { enabled = true; range.disabled = false; handle.hidden = false; position(parseFloat(range.value)); },
    };
  })();
})();

/* Small progressive enhancements shared by dashboard pages: copy buttons, tabs, local times. */
(function () {
  "use strict";

  function copyText(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    if (text === null) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      text = target ? target.textContent : "";
    }
    copyText(text, button);
  });

  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[role=tab]");
    if (!tab) return;
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      var panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  });

  // <time datetime> elements (the local_time filter) in the viewer's own time zone and locale.
  var STYLES = {
    datetime: { dateStyle: "medium", timeStyle: "short" },
    date: { dateStyle: "medium" },
    time: { timeStyle: "medium" }
  };
  window.cfLocalTime = function (root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when)) return;
      var style = node.getAttribute("data-local") || (node.closest(".log") ? "time" : "datetime");
      node.title = when.toISOString().replace(".000Z", "Z") + " (UTC)";
      node.textContent = new Intl.DateTimeFormat(undefined, STYLES[style] || STYLES.datetime).format(when);
    });
  };
  window.cfLocalTime();

  // Stacked tables (table.stack: a block of labelled fields per row on a phone) whose template
  // did not label its cells take each cell's label from its column's heading.
  document.querySelectorAll("table.stack").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, index) {
        if (!cell.hasAttribute("data-label") && !cell.hasAttribute("colspan") && heads[index]) {
          cell.setAttribute("data-label", heads[index]);
        }
      });
    });
  });
})();

/* The playground: drag and drop or paste photos, each checked at once against the server's own
   limits (size, formats, whether it decodes) so a refused upload is never sent, a live fidelity
   read-out, and the price of the chosen options fetched from the server's price table whenever
   they change. */
(function () {
  "use strict";
  var form = document.querySelector("[data-playground]");
  if (!form) return;
  var input = form.querySelector("input[type=file][name=images]");
  var zone = form.querySelector("[data-dropzone]");
  var list = form.querySelector("[data-file-list]");
  var urlInput = form.querySelector("input[name=image_url]");
  var maxImages = parseInt(form.getAttribute("data-max-images"), 10) || 8;
  var submitButton = form.querySelector("[data-submit]");
  var reasonNode = form.querySelector("[data-submit-reason]");
  var unavailableReason = form.hasAttribute("data-unavailable") ? reasonNode.textContent : "";

  // What the server checks each photo against (restoration.intake), rendered into the page.
  var checksNode = document.getElementById("upload-checks");
  var checks = checksNode ? JSON.parse(checksNode.textContent) : { max_bytes: 0, formats: [] };
  var problems = [];  // one sentence per chosen file the server would refuse
  var checking = 0;   // files still being decoded

  function formatOf(file) {
    var type = (file.type || "").toLowerCase();
    var name = (file.name || "").toLowerCase();
    for (var i = 0; i < checks.formats.length; i++) {
      var fmt = checks.formats[i];
      if (type && fmt.mime_types.indexOf(type) !== -1) return fmt;
      if (!type && fmt.extensions.some(function (ext) { return name.slice(-ext.length) === ext; })) return fmt;
    }
    return null;
  }

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, "") + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + (bytes === 1 ? " byte" : " bytes");
  }

  // The Restore button is on only when something can be sent: restorations are available, no
  // chosen file would be refused, and every file has been checked. The reason sits next to it.
  function updateSubmit() {
    var reason = unavailableReason;
    if (!reason && problems.length) {
      reason = problems.length === 1 ? problems[0] : problems.length + " of the chosen photos cannot be restored (see the list).";
      reason += " Remove " + (problems.length === 1 ? "it" : "them") + " or choose other photos.";
    } else if (!reason && checking) {
      reason = "Checking the chosen photos…";
    }
    var blocked = Boolean(reason);
    submitButton.disabled = blocked;
    if (blocked) submitButton.setAttribute("aria-disabled", "true"); else submitButton.removeAttribute("aria-disabled");
    reasonNode.textContent = reason;
    reasonNode.hidden = !blocked;
    reasonNode.classList.toggle("bad", !unavailableReason && problems.length > 0);
  }

  function markBad(item, label, message) {
    item.classList.add("bad");
    label.textContent = message;
    problems.push(message);
  }

  function checkFile(file, item, label) {
    var fmt = formatOf(file);
    if (checks.max_bytes && file.size > checks.max_bytes) {
      markBad(item, label, file.name + " is " + sizeText(file.size) + ", over the limit of " + checks.max_text + " per photo.");
      return placeholder(item, "!");
    }
    if (!fmt) {
      markBad(item, label, file.name + " is not a " + checks.formats_text + " image.");
      return placeholder(item, "!");
    }
    if (!file.size) {
      markBad(item, label, file.name + " is empty.");
      return placeholder(item, "!");
    }
    if (!fmt.previews) return placeholder(item, fmt.name);  // browsers cannot draw it; the server checks it
    var img = document.createElement("img");
    img.alt = "";
    checking += 1;
    var done = function () { checking -= 1; updateSubmit(); };
    img.addEventListener("load", done);
    img.addEventListener("error", function () {
      img.remove();
      placeholder(item, "!");
      markBad(item, label, file.name + " cannot be read as an image (it may be damaged, or not really a " + fmt.name + ").");
      done();
    });
    img.src = URL.createObjectURL(file);
    item.insertBefore(img, label);
  }

  function placeholder(item, text) {
    var box = document.createElement("span");
    box.className = "no-preview";
    box.setAttribute("aria-hidden", "true");
    box.textContent = text;
    item.insertBefore(box, item.firstChild);
  }

  function photoCount() {
    var files = input.files ? input.files.length : 0;
    if (files) return files;
    var kept = form.querySelector("[data-kept]");
    if (kept && form.querySelector("input[name=kept]").value) {
      return Math.max(1, (kept.textContent.match(/\(\d+×\d+\)/g) || []).length);
    }
    return 1;
  }

  function showFiles() {
    list.innerHTML = "";
    problems = [];
    checking = 0;
    Array.prototype.forEach.call(input.files || [], function (file) {
      var item = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = file.name + " · " + sizeText(file.size);
      item.appendChild(name);
      list.appendChild(item);
      checkFile(file, item, name);
    });
    updateSubmit();
    if (input.files && input.files.length) {
      // A file replaces the other sources.
      urlInput.value = "";
      form.querySelectorAll("input[name=sample]").forEach(function (r) { r.checked = false; });
      var kept = form.querySelector("[data-kept]");
      if (kept) kept.hidden = true;
      form.querySelector("input[name=kept]").value = "";
      form.querySelector("input[name=rerun]").value = "";
    }
    quote();
  }

  function setFiles(files) {
    var images = Array.prototype.filter.call(files, function (f) { return /^image\//.test(f.type); });
    if (!images.length) return;
    var transfer = new DataTransfer();
    images.slice(0, maxImages).forEach(function (f) { transfer.items.add(f); });
    input.files = transfer.files;
    showFiles();
  }

  input.addEventListener("change", showFiles);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer.files && event.dataTransfer.files.length) {
      setFiles(event.dataTransfer.files);
    } else {
      var text = event.dataTransfer.getData("text/uri-list") || event.dataTransfer.getData("text/plain");
      if (/^https?:\/\//i.test(text || "")) { urlInput.value = text.trim(); clearFiles(); }
    }
  });
  document.addEventListener("paste", function (event) {
    if (event.target === urlInput) return;
    var data = event.clipboardData;
    if (data && data.files && data.files.length) {
      event.preventDefault();
      setFiles(data.files);
    } else if (data) {
      var text = (data.getData("text/plain") || "").trim();
      if (/^https?:\/\/\S+$/i.test(text) && !(event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement)) {
        urlInput.value = text;
        clearFiles();
      }
    }
  });

  function forgetFiles() {
    input.value = "";
    list.innerHTML = "";
    problems = [];
    checking = 0;
    updateSubmit();
  }

  function clearFiles() {
    forgetFiles();
    form.querySelectorAll("input[name=sample]").forEach(function (r) { r.checked = false; });
    quote();
  }
  urlInput.addEventListener("input", function () { if (urlInput.value) { forgetFiles(); form.querySelectorAll("input[name=sample]").forEach(function (r) { r.checked = false; }); } });
  form.querySelectorAll("input[name=sample]").forEach(function (radio) {
    radio.addEventListener("change", function () { forgetFiles(); urlInput.value = ""; quote(); });
  });

  // Fidelity read-out.
  var fidelity = form.querySelector("input[name=fidelity]");
  var fidelityValue = form.querySelector("[data-fidelity-value]");
  function showFidelity() { fidelityValue.textContent = parseFloat(fidelity.value).toFixed(2); }
  fidelity.addEventListener("input", showFidelity);
  showFidelity();

  // Price, from the server's price table.
  var priceNode = form.querySelector("[data-price]");
  var detailNode = form.querySelector("[data-price-detail]");
  var warningNode = form.querySelector("[data-price-warning]");
  var pending = null;
  function quote() {
    var upscale = form.querySelector("input[name=upscale]:checked");
    var params = new URLSearchParams({
      upscale: upscale ? upscale.value : "2",
      background_enhance: form.querySelector("input[name=background_enhance]").checked ? "true" : "false",
      face_upsample: form.querySelector("input[name=face_upsample]").checked ? "true" : "false",
      count: String(photoCount()),
      model: form.querySelector("[name=model]").value,
    });
    if (pending) pending.abort();
    pending = new AbortController();
    priceNode.classList.add("stale");
    fetch(form.getAttribute("data-price-url") + "?" + params, { credentials: "same-origin", signal: pending.signal, headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        priceNode.classList.remove("stale");
        if (!answer.ok) { warningNode.hidden = false; warningNode.textContent = answer.body.message; return; }
        var q = answer.body;
        priceNode.textContent = q.total_display;
        detailNode.textContent = (q.count > 1 ? q.count + " photos × " + q.unit_display : "per photo") + " · available " + q.available_display;
        warningNode.hidden = q.enough;
        warningNode.textContent = q.enough ? "" : "Your wallet's available balance does not cover this. Top up first, or choose fewer or cheaper options.";
      })
      .catch(function (error) { if (error.name !== "AbortError") priceNode.classList.remove("stale"); });
  }
  form.addEventListener("change", function (event) {
    if (event.target.name !== "images") quote();
  });
  form.addEventListener("submit", function (event) {
    if (submitButton.disabled) { event.preventDefault(); return; }  // Enter in a field while blocked
    submitButton.disabled = true;
    submitButton.textContent = "Uploading…";
  });
  quote();
})();

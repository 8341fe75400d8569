/* The playground: drag and drop or paste photos, a live fidelity read-out, and the price of the
   chosen options fetched from the server's price table whenever they change. */
(function () {
  "use strict";
  var form = document.querySelector("[data-playground]");
  if (!form) return;
  var input = form.querySelector("input[type=file][name=images]");
  var zone = form.querySelector("[data-dropzone]");
  var list = form.querySelector("[data-file-list]");
  var urlInput = form.querySelector("input[name=image_url]");
  var maxImages = parseInt(form.getAttribute("data-max-images"), 10) || 8;

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
    Array.prototype.forEach.call(input.files || [], function (file) {
      var item = document.createElement("li");
      var img = document.createElement("img");
      img.alt = "";
      img.src = URL.createObjectURL(file);
      item.appendChild(img);
      var name = document.createElement("span");
      name.textContent = file.name + " · " + Math.round(file.size / 1024) + " KB";
      item.appendChild(name);
      list.appendChild(item);
    });
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

  function clearFiles() {
    input.value = "";
    list.innerHTML = "";
    form.querySelectorAll("input[name=sample]").forEach(function (r) { r.checked = false; });
    quote();
  }
  urlInput.addEventListener("input", function () { if (urlInput.value) { input.value = ""; list.innerHTML = ""; form.querySelectorAll("input[name=sample]").forEach(function (r) { r.checked = false; }); } });
  form.querySelectorAll("input[name=sample]").forEach(function (radio) {
    radio.addEventListener("change", function () { input.value = ""; list.innerHTML = ""; urlInput.value = ""; quote(); });
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
  form.addEventListener("submit", function () {
    var button = form.querySelector("[data-submit]");
    button.disabled = true;
    button.textContent = "Uploading…";
  });
  quote();
})();

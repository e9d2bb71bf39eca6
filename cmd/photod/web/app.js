// photod's page: pick a photo, crop it, upload it through the Chatter
// dialect, upload it in chunks through the three-step resumable API, or set
// it from a URL, and see every rendition the server made. Plain JavaScript,
// no build step, no dependencies: a reference for host apps.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // The dialect routes the page uses. Chatter's apiVersion and the
  // community key are free-form in photod; these are the documents' own.
  const CHATTER_PHOTO = "/services/data/v64.0/chatter/users/me/photo";
  const COMMUNITY = "1";
  const ATTACHMENTS = `/.api2/api/v1/communities/${COMMUNITY}/attachments`;
  const profileImage = (user) => `/v1/users/${encodeURIComponent(user)}/profile/profile-image`;
  const slackProfile = "/api/users.profile.get";

  // ---------------------------------------------------------------- API

  function token() { return $("token").value.trim(); }
  function userID() { return $("user").value.trim(); }

  // request sends one HTTP request with XMLHttpRequest (for upload
  // progress) and resolves with {status, body, header(name)}; status is 0
  // when the server could not be reached. It never rejects.
  function request(method, url, { body = null, headers = {}, auth = true, onProgress = null, signal = null } = {}) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      if (auth && token()) xhr.setRequestHeader("Authorization", "Bearer " + token());
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (onProgress) {
        xhr.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) onProgress(e.loaded, e.total);
        });
      }
      const done = () => {
        let parsed = null;
        const text = xhr.responseText;
        if (text && (xhr.getResponseHeader("Content-Type") || "").includes("json")) {
          try { parsed = JSON.parse(text); } catch { parsed = null; }
        }
        resolve({
          status: xhr.status,
          statusText: xhr.statusText,
          body: parsed,
          text,
          header: (name) => xhr.getResponseHeader(name),
        });
      };
      xhr.addEventListener("load", done);
      xhr.addEventListener("error", () => resolve({ status: 0, body: null, text: "", header: () => null }));
      xhr.addEventListener("abort", () => resolve({ status: 0, aborted: true, body: null, text: "", header: () => null }));
      if (signal) signal.addEventListener("abort", () => xhr.abort());
      xhr.send(body);
    });
  }

  const ok = (res) => res.status >= 200 && res.status < 300;

  // Slack's codes, in words.
  const SLACK_WORDS = {
    not_authed: "No token was sent.",
    invalid_auth: "The token is not valid.",
    bad_image: "The file could not be processed as an image: try a JPEG, GIF, PNG or WebP.",
    too_large: "The image is too large.",
    too_many_frames: "The animation has too many frames.",
    invalid_arguments: "The request's arguments are invalid.",
    invalid_form_data: "The upload's form data was malformed or cut short.",
    request_timeout: "The upload stopped arriving or arrived too slowly; try again.",
    access_denied: "You may not change this photo.",
    internal_error: "The server failed; try again.",
  };
  // profile-image's field error codes, in words.
  const FIELD_WORDS = {
    "field-missing": (f) => `The ${f} is missing.`,
    "file-too-large": () => "The file is too large.",
    "invalid-file-format": () => "The file is not an image photod accepts (JPEG, PNG, GIF or static WebP), or it is damaged.",
    "invalid-url": () => "That is not a valid http or https URL.",
    "invalid-crop": () => "The crop box does not fit inside the image.",
  };

  // explain turns an API failure into a sentence, whatever the dialect.
  function explain(res) {
    if (res.aborted) return "The request was cancelled.";
    if (res.status === 0) return "photod could not be reached. Is it still running?";
    const b = res.body;
    if (Array.isArray(b) && b.length) { // Chatter: [{errorCode, message}]
      return b.map((e) => sentence(e.message || e.errorCode)).join(" ");
    }
    if (b && b.ok === false) { // Slack: {ok:false, error}
      return SLACK_WORDS[b.error] || `The server refused the request (${b.error}).`;
    }
    if (b && Array.isArray(b.fieldErrors) && b.fieldErrors.length) { // profile-image
      return b.fieldErrors.map((fe) => sentence(fe.message || (FIELD_WORDS[fe.code] ? FIELD_WORDS[fe.code](fe.field) : `${fe.field}: ${fe.code}`))).join(" ");
    }
    if (b && b.message) return sentence(b.message);
    if (res.status === 401) return "The token was missing or refused.";
    if (res.status === 403) return "This token may not change that user's photo.";
    if (res.status === 404) return "Not found.";
    if (res.status === 413) return "The file is too large.";
    return `The server answered ${res.status} ${res.statusText || ""}.`.replace(" .", ".");
  }

  function sentence(s) {
    s = String(s || "").trim();
    if (!s) return "";
    s = s[0].toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + ".";
  }

  // ------------------------------------------------------------ messages

  function showError(what, res) {
    const el = $("alert");
    el.textContent = `${what}: ${typeof res === "string" ? res : explain(res)}`;
    $("notice").textContent = "";
  }
  function notify(text) {
    $("alert").textContent = "";
    $("notice").textContent = text;
  }
  function clearMessages() {
    $("alert").textContent = "";
    $("notice").textContent = "";
  }

  // ------------------------------------------------------- who you are

  async function loadDemoToken() {
    const res = await request("GET", "/demo-token", { auth: false });
    if (res.status === 200 && res.body && res.body.token) {
      $("token").value = res.body.token;
      $("user").value = res.body.userId;
      $("who-hint").textContent = `Demo mode: photod made this token for the user "${res.body.userId}" when it started.`;
      return true;
    }
    return false;
  }

  let whoSeq = 0;
  async function whoami() {
    const seq = ++whoSeq;
    if (!token()) return;
    const res = await request("GET", "/whoami");
    if (seq !== whoSeq) return;
    if (ok(res) && res.body) {
      $("user").value = res.body.userId;
      loadCurrent();
    } else {
      showError("Token", res);
    }
  }

  // ---------------------------------------------------------- the photo

  const state = {
    file: null,
    url: null,          // object URL of the picked file
    w: 0, h: 0,         // the upright image's natural size
    crop: { x: 0, y: 0, size: 0 },
    uploading: false,
  };

  const img = $("source");
  const box = $("crop-box");

  function pickFile(file) {
    if (!file) return;
    if (!/^image\//.test(file.type) && file.type !== "") {
      showError("That file", "it is not an image.");
      return;
    }
    clearMessages();
    state.file = file;
    if (state.url) URL.revokeObjectURL(state.url);
    state.url = URL.createObjectURL(file);
    img.onload = () => {
      // naturalWidth/Height are those of the upright image: browsers apply
      // the EXIF orientation (image-orientation: from-image), and so does
      // photod, so crop coordinates in these pixels mean the same to both.
      state.w = img.naturalWidth;
      state.h = img.naturalHeight;
      resetCrop();
      $("editor").hidden = false;
      $("drop").classList.add("has-photo");
      layout();
      box.focus({ preventScroll: true });
    };
    img.onerror = () => {
      $("editor").hidden = true;
      if (isHEIF(file)) {
        // Most browsers cannot show a HEIC (an iPhone's photos), and
        // some no AVIF: photod decodes both, so the photo goes uncropped
        // and photod makes it square (letterboxed).
        state.crop = null;
        state.w = state.h = 0;
        notify("This browser cannot show the photo, so it cannot be cropped here: uploading it whole; photod makes it square.");
        uploadPhoto();
        return;
      }
      showError("That file", "the browser cannot display it, so it cannot be cropped here. Try a JPEG, PNG, GIF, WebP, HEIC or AVIF.");
    };
    img.src = state.url;
  }

  function resetCrop() {
    const size = Math.max(1, Math.round(Math.min(state.w, state.h) * 0.8));
    setCrop({ x: Math.round((state.w - size) / 2), y: Math.round((state.h - size) / 2), size });
  }

  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const minSize = () => Math.min(32, state.w, state.h);

  // setCrop keeps the box square, inside the image and in whole pixels.
  function setCrop(c) {
    const size = clamp(Math.round(c.size), minSize(), Math.min(state.w, state.h));
    state.crop = {
      size,
      x: clamp(Math.round(c.x), 0, state.w - size),
      y: clamp(Math.round(c.y), 0, state.h - size),
    };
    layout();
    drawPreview();
    const { x, y } = state.crop;
    $("crop-readout").textContent = `${size} × ${size} px at x ${x}, y ${y} of ${state.w} × ${state.h}`;
    box.dataset.x = x;
    box.dataset.y = y;
    box.dataset.size = size;
    box.setAttribute("aria-label", `Crop box, ${size} pixels square, at ${x}, ${y}`);
  }

  function scale() {
    return state.w ? img.getBoundingClientRect().width / state.w : 1;
  }

  function layout() {
    if (!state.w) return;
    const s = scale();
    const { x, y, size } = state.crop;
    box.style.left = `${x * s}px`;
    box.style.top = `${y * s}px`;
    box.style.width = `${size * s}px`;
    box.style.height = `${size * s}px`;
  }

  let previewFrame = 0;
  function drawPreview() {
    if (previewFrame) return;
    previewFrame = requestAnimationFrame(() => {
      previewFrame = 0;
      if (!state.crop) return;
      const { x, y, size } = state.crop;
      for (const c of [$("preview"), $("preview-round")]) {
        const ctx = c.getContext("2d");
        ctx.imageSmoothingQuality = "high";
        ctx.clearRect(0, 0, c.width, c.height);
        // drawImage's source rectangle is in the upright image's pixels,
        // like the crop.
        ctx.drawImage(img, x, y, size, size, 0, 0, c.width, c.height);
      }
    });
  }

  // Pointer: drag the box to move it, a corner to resize it about the
  // opposite corner. Pointer events cover mouse, pen and touch alike.
  let drag = null;
  box.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    box.focus({ preventScroll: true });
    box.setPointerCapture(e.pointerId);
    drag = { id: e.pointerId, handle: e.target.dataset.handle || null, px: e.clientX, py: e.clientY, start: { ...state.crop }, s: scale() };
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const dx = (e.clientX - drag.px) / drag.s;
    const dy = (e.clientY - drag.py) / drag.s;
    const c = drag.start;
    if (!drag.handle) {
      setCrop({ x: c.x + dx, y: c.y + dy, size: c.size });
      return;
    }
    // The anchor is the corner opposite the handle; the size follows the
    // pointer's mean movement along the box's diagonal.
    const right = drag.handle.includes("e"), bottom = drag.handle.includes("s");
    const d = ((right ? dx : -dx) + (bottom ? dy : -dy)) / 2;
    const ax = right ? c.x : c.x + c.size;
    const ay = bottom ? c.y : c.y + c.size;
    const room = Math.min(right ? state.w - ax : ax, bottom ? state.h - ay : ay);
    const size = clamp(Math.round(c.size + d), minSize(), room);
    setCrop({ x: right ? ax : ax - size, y: bottom ? ay : ay - size, size });
  });
  const endDrag = (e) => {
    if (drag && e.pointerId === drag.id) drag = null;
  };
  box.addEventListener("pointerup", endDrag);
  box.addEventListener("pointercancel", endDrag);

  // Keyboard: arrows move, Shift+arrows or +/- resize about the centre,
  // Alt makes one-pixel steps.
  box.addEventListener("keydown", (e) => {
    if (!state.w) return;
    const step = e.altKey ? 1 : Math.max(1, Math.round(Math.min(state.w, state.h) / 50));
    const c = state.crop;
    let dx = 0, dy = 0, grow = 0;
    switch (e.key) {
      case "ArrowLeft": if (e.shiftKey) grow = -step; else dx = -step; break;
      case "ArrowRight": if (e.shiftKey) grow = step; else dx = step; break;
      case "ArrowUp": if (e.shiftKey) grow = step; else dy = -step; break;
      case "ArrowDown": if (e.shiftKey) grow = -step; else dy = step; break;
      case "+": case "=": grow = step; break;
      case "-": case "_": grow = -step; break;
      default: return;
    }
    e.preventDefault();
    if (grow) {
      const size = clamp(c.size + 2 * grow, minSize(), Math.min(state.w, state.h));
      const half = (size - c.size) / 2;
      setCrop({ x: c.x - half, y: c.y - half, size });
    } else {
      setCrop({ x: c.x + dx, y: c.y + dy, size: c.size });
    }
  });

  new ResizeObserver(layout).observe(img);

  // Picking and dropping.
  $("file").addEventListener("change", (e) => pickFile(e.target.files[0]));
  const drop = $("drop");
  for (const t of ["dragenter", "dragover"]) {
    drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const t of ["dragleave", "drop"]) {
    drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => pickFile(e.dataTransfer.files[0]));
  // A photo dropped anywhere else must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  $("reset-crop").addEventListener("click", () => { resetCrop(); box.focus(); });

  // Upload through Chatter: multipart with the file and a JSON part that
  // carries the crop.
  $("upload").addEventListener("click", () => {
    clearMessages();
    uploadPhoto();
  });

  // isHEIF reports whether file is a HEIC, HEIF or AVIF by its type or,
  // as browsers often give HEIC no type, its name.
  function isHEIF(file) {
    return /^image\/(heic|heif|avif)/.test(file.type) || /\.(heic|heif|avif)$/i.test(file.name || "");
  }

  // uploadPhoto sends the picked file, with the crop when there is one.
  async function uploadPhoto() {
    if (!state.file || state.uploading) return;
    state.uploading = true;
    $("upload").disabled = true;
    const form = new FormData();
    form.append("fileUpload", state.file, state.file.name || "photo");
    if (state.crop) {
      const { x, y, size } = state.crop;
      // The json part goes as a plain field: a Blob part would carry a
      // file name ("blob"), and a server may take any named part for a
      // file.
      form.append("json", JSON.stringify({ cropX: x, cropY: y, cropSize: size }));
    }
    const bar = $("upload-bar"), pct = $("upload-pct");
    $("upload-progress").hidden = false;
    bar.value = 0;
    pct.textContent = "0%";
    const res = await request("POST", CHATTER_PHOTO, {
      body: form,
      onProgress: (loaded, total) => {
        const p = Math.round((loaded / total) * 100);
        bar.value = p;
        pct.textContent = p < 100 ? `${p}%` : "Processing…";
      },
    });
    state.uploading = false;
    $("upload").disabled = false;
    if (!ok(res)) {
      $("upload-progress").hidden = true;
      showError("Upload failed", res);
      return;
    }
    bar.value = 100;
    pct.textContent = "Done";
    notify(`Uploaded: version ${res.body && res.body.photoVersionId}.`);
    await loadCurrent();
  }

  // ----------------------------------------------- the resumable upload

  const r = { file: null, url: null, key: null, offset: 0, paused: false, running: false, ctl: null };

  function setStep(name, status) {
    for (const li of $("r-steps").children) {
      if (li.dataset.step === name) {
        li.classList.toggle("active", status === "active");
        li.classList.toggle("done", status === "done");
      }
    }
  }
  function resetSteps() {
    for (const li of $("r-steps").children) li.classList.remove("active", "done");
  }
  function showR(sent, total, note) {
    const p = total ? Math.floor((sent / total) * 100) : 0;
    $("r-bar").value = p;
    $("r-text").textContent = note || `${p}%`;
  }

  // rangeEnd reads "Range: bytes=0-N" (what the server holds) into N+1.
  function received(res) {
    const m = /bytes=0-(\d+)/.exec(res.header("Range") || "");
    return m ? Number(m[1]) + 1 : 0;
  }

  async function resumableRun() {
    const file = r.file;
    r.running = true;
    r.paused = false;
    $("r-start").disabled = true;
    $("r-pause").disabled = false;
    $("r-pause").textContent = "Pause";
    clearMessages();
    try {
      if (!r.url) {
        resetSteps();
        setStep("create", "active");
        const res = await request("POST", ATTACHMENTS, {
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ ContentLength: file.size, ContentType: file.type || "application/octet-stream", Name: file.name || "photo" }),
        });
        if (res.status !== 201 || !res.header("Location")) {
          showError("Creating the upload failed", res);
          return;
        }
        r.url = res.header("Location");
        r.key = r.url.split("/").pop();
        r.offset = 0;
        setStep("create", "done");
      } else {
        // Resuming: ask the server how much it holds.
        const res = await request("HEAD", r.url);
        if (!ok(res)) {
          showError("Resuming failed", res);
          r.url = null;
          return;
        }
        r.offset = received(res);
      }
      setStep("send", "active");
      // At most about 1000 chunks, as the server bounds an upload's chunks.
      const chunk = Math.max(Number($("r-chunk").value), Math.ceil(file.size / 1000));
      while (r.offset < file.size) {
        if (r.paused) {
          showR(r.offset, file.size, `Paused at ${fmtBytes(r.offset)} of ${fmtBytes(file.size)}`);
          return;
        }
        const start = r.offset, end = Math.min(start + chunk, file.size);
        r.ctl = new AbortController();
        const res = await request("PATCH", r.url, {
          headers: { "Content-Range": `bytes ${start}-${end - 1}/${file.size}`, "Content-Type": file.type || "application/octet-stream" },
          body: file.slice(start, end),
          signal: r.ctl.signal,
          onProgress: (loaded) => showR(start + loaded, file.size),
        });
        r.ctl = null;
        if (res.aborted && r.paused) continue; // the loop reports the pause
        if (res.status === 409) {
          // The server holds a different amount: continue from there.
          r.offset = received(res);
          continue;
        }
        if (!ok(res)) {
          showError("Sending a chunk failed", res);
          return;
        }
        r.offset = end;
        showR(r.offset, file.size);
      }
      setStep("send", "done");
      setStep("associate", "active");
      $("r-pause").disabled = true;
      const user = userID();
      const res = await request("POST", `${ATTACHMENTS}/${encodeURIComponent(r.key)}/association/${encodeURIComponent(user)}?type=ProfilePhoto`);
      if (!ok(res)) {
        showError("Setting the photo failed", res);
        r.url = null;
        return;
      }
      setStep("associate", "done");
      showR(file.size, file.size, "Done");
      notify(`Resumable upload ${r.key} is now ${user}'s photo.`);
      r.url = null;
      await loadCurrent();
    } finally {
      r.running = false;
      $("r-start").disabled = !r.file;
      $("r-start").textContent = r.url ? "Resume" : "Start upload";
      $("r-pause").disabled = true;
    }
  }

  $("r-file").addEventListener("change", (e) => {
    r.file = e.target.files[0] || null;
    r.url = null;
    resetSteps();
    showR(0, 1);
    $("r-start").disabled = !r.file || r.running;
    $("r-start").textContent = "Start upload";
  });
  $("r-start").addEventListener("click", () => {
    if (!r.file) {
      showError("Resumable upload", "choose a photo first.");
      $("r-file").focus();
      return;
    }
    if (!r.running) resumableRun();
  });
  $("r-pause").addEventListener("click", () => {
    r.paused = true;
    if (r.ctl) r.ctl.abort();
    $("r-pause").disabled = true;
  });

  function fmtBytes(n) {
    if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
    if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
    return `${n} bytes`;
  }

  // ------------------------------------------------------ set from URL

  let pollSeq = 0;
  $("url-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const url = $("url").value.trim();
    const user = userID();
    clearMessages();
    $("url-go").disabled = true;
    const res = await request("POST", profileImage(user), {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url }),
    });
    $("url-go").disabled = false;
    if (!ok(res)) {
      $("url-status").textContent = "";
      showError("Setting from the URL failed", res);
      return;
    }
    const seq = ++pollSeq;
    $("url-status").textContent = "downloading…";
    render(res.body);
    // Poll until the download ends, at most two minutes.
    for (let i = 0; i < 160 && seq === pollSeq; i++) {
      await new Promise((wake) => setTimeout(wake, 750));
      const g = await request("GET", profileImage(user));
      if (seq !== pollSeq) return;
      if (!ok(g)) {
        $("url-status").textContent = "";
        showError("Checking the download failed", g);
        return;
      }
      const status = g.body && g.body.status;
      if (status !== "downloading") {
        render(g.body);
        if (status === "failed") {
          $("url-status").textContent = "failed";
          showError("The download failed", importReason(g.body.error));
        } else {
          $("url-status").textContent = `ready: version ${g.body.versionId}`;
          notify("The photo from the URL is ready.");
        }
        return;
      }
    }
    if (seq === pollSeq) $("url-status").textContent = "still downloading; press Refresh to check again";
  });

  function importReason(err) {
    if (!err) return "no reason was given.";
    const words = {
      "url-not-allowed": "photod may not fetch that address (only public addresses, unless allowed with -url-import-allow).",
      "download-failed": "the download did not succeed.",
      "download-interrupted": "the download never finished.",
    };
    return sentence(err.message || words[err.code] || err.code);
  }

  // ------------------------------------------------------- current photo

  // loadCurrent shows the user's photo. It asks Slack's users.profile.get
  // first: it always answers 200, so looking for a photo that is not there
  // logs no failed request in the browser's console (profile-image GET
  // answers 404 then).
  async function loadCurrent() {
    const user = userID();
    if (!user || !token()) return;
    $("current").setAttribute("aria-busy", "true");
    try {
      const probe = await request("GET", `${slackProfile}?user=${encodeURIComponent(user)}`);
      if (!ok(probe) || !probe.body || probe.body.ok !== true) {
        showError("Loading the current photo failed", probe);
        return;
      }
      if (!probe.body.profile || !probe.body.profile.is_custom_image) {
        render(null);
        showDefault(probe.body.profile);
        return;
      }
      const res = await request("GET", profileImage(user));
      if (res.status === 404) {
        render(null);
      } else if (!ok(res)) {
        showError("Loading the current photo failed", res);
      } else {
        render(res.body);
      }
    } finally {
      $("current").setAttribute("aria-busy", "false");
    }
  }

  // render shows a profile-image body: status, versionId, the source, and
  // every rendition at its real size.
  function render(p) {
    loadHistory(p && p.versionId ? p.versionId : "");
    const list = $("renditions");
    list.replaceChildren();
    const has = !!(p && (p.versionId || p.status === "downloading" || p.status === "failed"));
    $("current-empty").hidden = has;
    $("facts").hidden = !has;
    $("delete").disabled = !(p && p.versionId);
    $("f-error").hidden = true;
    $("renditions-title").hidden = true;
    hideDefault();
    if (!has) return;
    const st = $("f-status");
    st.textContent = p.status || "ready";
    st.className = `badge ${p.status || "ready"}`;
    $("f-version").textContent = p.versionId || "none yet";
    $("f-source").textContent = p.width ? `${p.width} × ${p.height}, ${p.mimeType || "?"}` : "—";
    const orig = $("f-original");
    orig.replaceChildren();
    if (p.original && p.original.url) {
      // The normalised original: upright, metadata stripped, at most
      // 2048 px a side.
      const a = document.createElement("a");
      a.href = p.original.url;
      a.textContent = `${p.original.width} × ${p.original.height}, ${p.original.mimeType || "?"}`;
      orig.append(a);
    } else {
      orig.textContent = "—";
    }
    const rs = (p.renditions || []).slice().sort((a, b) => a.size - b.size);
    $("f-count").textContent = rs.length ? `${rs.length}: ${rs.map((x) => x.size).join(", ")} px` : "none";
    if (p.status === "failed" && p.error) {
      $("f-error").textContent = `Last import failed: ${importReason(p.error)}`;
      $("f-error").hidden = false;
    }
    $("renditions-title").hidden = rs.length === 0;
    for (const x of rs) {
      const fig = document.createElement("figure");
      const im = document.createElement("img");
      im.src = x.url;
      im.width = x.width;
      im.height = x.height;
      im.alt = `${x.size} pixel rendition`;
      im.dataset.size = x.size;
      im.dataset.width = x.width;
      im.dataset.height = x.height;
      im.decoding = "async";
      drawPlaceholder(im, p.placeholder);
      const cap = document.createElement("figcaption");
      const strong = document.createElement("strong");
      strong.textContent = `${x.size}`;
      cap.append(strong, ` · ${x.width}×${x.height}`);
      fig.append(im, cap);
      list.append(fig);
    }
  }

  $("refresh").addEventListener("click", () => { clearMessages(); loadCurrent(); });

  $("delete").addEventListener("click", async () => {
    const user = userID();
    clearMessages();
    $("delete").disabled = true;
    const res = await request("DELETE", profileImage(user));
    if (!ok(res)) {
      $("delete").disabled = false;
      showError("Deleting failed", res);
      return;
    }
    pollSeq++;
    render(null);
    loadCurrent(); // the default photo
    notify(`${user}'s photo was deleted.`);
  });

  // ------------------------------------------------------------ history

  // The earlier photos photod keeps (-keep-versions), from the
  // profile-image dialect's versions routes: each can be made current
  // again (a new revision with the same versionId, so its URLs stay the
  // same) or deleted. Writes carry the list's ETag in If-Match, so a list
  // that another tab or client made stale is refused (409) and reloaded.
  const versionsURL = (user) => `${profileImage(user)}/versions`;
  const hist = { seq: 0, etag: null };

  // loadHistory lists the earlier versions of the photo whose current
  // version is current ("" when there is none: the panel hides, and
  // nothing is asked, as there is nothing to list).
  async function loadHistory(current) {
    const seq = ++hist.seq;
    const user = userID();
    if (!current || !user) {
      $("history").hidden = true;
      $("history-list").replaceChildren();
      return;
    }
    const res = await request("GET", versionsURL(user));
    if (seq !== hist.seq) return;
    if (!ok(res) || !res.body) {
      $("history").hidden = true;
      if (res.status !== 404) showError("Loading the earlier photos failed", res);
      return;
    }
    hist.etag = res.header("ETag");
    renderHistory(res.body.versions.filter((v) => !v.current));
  }

  // historyThumb picks the rendition nearest 64 px, at least as large.
  function historyThumb(v) {
    const rs = (v.renditions || []).slice().sort((a, b) => a.size - b.size);
    return rs.find((x) => x.size >= 64) || rs[rs.length - 1] || null;
  }

  function renderHistory(kept) {
    const list = $("history-list");
    list.replaceChildren();
    $("history").hidden = false;
    $("history-empty").hidden = kept.length > 0;
    for (const v of kept) {
      const li = document.createElement("li");
      li.className = "history-item";
      li.dataset.versionId = v.versionId;
      const th = historyThumb(v);
      if (th) {
        const im = document.createElement("img");
        im.src = th.url;
        im.width = 64;
        im.height = 64;
        im.alt = `Earlier photo ${v.versionId}`;
        im.decoding = "async";
        li.append(im);
      }
      const info = document.createElement("div");
      info.className = "history-info";
      const code = document.createElement("code");
      code.textContent = v.versionId;
      const when = document.createElement("span");
      when.className = "hint";
      when.textContent = `${new Date(v.created).toLocaleString()} · ${v.width} × ${v.height}`;
      info.append(code, when);
      const actions = document.createElement("div");
      actions.className = "actions";
      const restore = document.createElement("button");
      restore.type = "button";
      restore.dataset.action = "restore";
      restore.textContent = "Restore";
      restore.setAttribute("aria-label", `Restore photo ${v.versionId}`);
      restore.addEventListener("click", () => restoreVersion(v.versionId, restore));
      const del = document.createElement("button");
      del.type = "button";
      del.className = "danger";
      del.dataset.action = "delete";
      del.textContent = "Delete";
      del.setAttribute("aria-label", `Delete photo ${v.versionId}`);
      del.addEventListener("click", () => deleteVersion(v.versionId, del));
      actions.append(restore, del);
      li.append(info, actions);
      list.append(li);
    }
  }

  function historyHeaders() {
    return hist.etag ? { "If-Match": hist.etag } : {};
  }

  async function restoreVersion(id, button) {
    const user = userID();
    clearMessages();
    button.disabled = true;
    const res = await request("POST", `${versionsURL(user)}/${encodeURIComponent(id)}/restore`, { headers: historyHeaders() });
    if (!ok(res)) {
      button.disabled = false;
      showError("Restoring failed", res.status === 409 ? "the photo changed meanwhile; the list is up to date now." : res);
      loadCurrent();
      return;
    }
    pollSeq++;
    render(res.body);
    notify(`Version ${id} is the current photo again.`);
  }

  async function deleteVersion(id, button) {
    const user = userID();
    clearMessages();
    button.disabled = true;
    const res = await request("DELETE", `${versionsURL(user)}/${encodeURIComponent(id)}`, { headers: historyHeaders() });
    if (!ok(res)) {
      button.disabled = false;
      showError("Deleting the earlier photo failed", res.status === 409 ? "the photo changed meanwhile; the list is up to date now." : res);
    } else {
      notify(`Earlier photo ${id} was deleted.`);
    }
    loadCurrent();
  }

  // ------------------------------------- default photo and placeholders

  // Every user without a photo has a default one (an identicon, or the
  // initials of a display name the host knows), which users.profile.get
  // links to with is_custom_image false. A photo's profile-image body
  // carries a placeholder: a ThumbHash of about 30 characters that
  // thumbhash.js decodes into a blurred preview, shown while the
  // renditions load.

  // The decoder is an ES module; it is asked for once, at start, so that
  // it is there before the first renditions are.
  const thumbhash = import("/ui/thumbhash.js").catch((err) => {
    console.warn("thumbhash.js did not load; no placeholders", err);
    return null;
  });

  // showDefault shows the default photo of a users.profile.get profile
  // without a custom image (nothing when the server has defaults off).
  // The <img> exists only while shown, so that the page never holds an
  // image without a source.
  function showDefault(profile) {
    const url = profile && (profile.image_192 || profile.image_72);
    if (!url) return;
    let im = $("default-img");
    if (!im) {
      im = document.createElement("img");
      im.id = "default-img";
      im.alt = "The default photo";
      im.width = im.height = 96;
      $("default-photo").prepend(im);
    }
    im.src = url;
    $("default-photo").hidden = false;
  }

  function hideDefault() {
    $("default-photo").hidden = true;
    const im = $("default-img");
    if (im) im.remove();
  }

  // drawPlaceholder paints hash behind img until img has loaded: as its
  // background, a PNG data URL of the decoded hash, stretched to its box.
  async function drawPlaceholder(img, hash) {
    if (!hash) return;
    const mod = await thumbhash;
    if (!mod || img.complete && img.naturalWidth > 0) return;
    let url;
    try {
      url = mod.toDataURL(hash);
    } catch (err) {
      console.warn("a malformed placeholder", hash, err);
      return;
    }
    const clear = () => {
      img.classList.remove("placeholder");
      img.style.backgroundImage = "";
      img.dataset.placeholder = "cleared";
    };
    img.classList.add("placeholder");
    img.style.backgroundImage = `url("${url}")`;
    img.dataset.placeholder = "drawn";
    img.addEventListener("load", clear, { once: true });
    if (img.complete && img.naturalWidth > 0) clear();
  }

  // --------------------------------------------------------------- tabs

  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  function selectTab(tab, focus) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    layout();
  }
  for (const t of tabs) {
    t.addEventListener("click", () => selectTab(t, false));
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      let j = -1;
      if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
      else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === "Home") j = 0;
      else if (e.key === "End") j = tabs.length - 1;
      if (j < 0) return;
      e.preventDefault();
      selectTab(tabs[j], true);
    });
  }

  // --------------------------------------------------------------- start

  let tokenTimer = 0;
  $("token").addEventListener("input", () => {
    clearTimeout(tokenTimer);
    tokenTimer = setTimeout(whoami, 400);
  });
  $("user").addEventListener("change", () => loadCurrent());
  $("who-form").addEventListener("submit", (e) => { e.preventDefault(); whoami(); });

  (async () => {
    if (await loadDemoToken()) await loadCurrent();
    document.body.dataset.ready = "true";
  })();
})();

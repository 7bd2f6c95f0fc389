// posekit live page: camera -> one JPEG frame in flight over a WebSocket -> poses drawn over the video.
// Plain browser JavaScript, no build step. The page keeps exactly one frame in flight and draws the last
// result while the next one runs; a photo can be sent to POST /v1/poses instead.
"use strict";

(() => {
  const CAPTURE_MAX = 320;        // longest side of the frames we send (px); MoveNet looks at 192 or 256
  const JPEG_QUALITY = 0.7;
  const PHOTO_MAX = 1600;         // photos larger than this are scaled down before upload
  const ANSWER_TIMEOUT_MS = 15000; // an answer this late means a dead connection: reconnect
  const BACKOFF_MAX_MS = 8000;

  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const minScore = Number(params.get("min_score") ?? 0.25);
  const authHeaders = token ? { Authorization: `Bearer ${token}` } : {};

  // One colour family per track: lighter for the person's left side, darker for the right, mid for the middle.
  const PALETTE = [
    { left: "#5ee0ff", right: "#0077b6", centre: "#00b4d8" },  // cyan
    { left: "#86efac", right: "#15803d", centre: "#22c55e" },  // green
    { left: "#f0abfc", right: "#a21caf", centre: "#d946ef" },  // fuchsia
    { left: "#ffd166", right: "#b45309", centre: "#f59e0b" },  // amber
    { left: "#c4b5fd", right: "#6d28d9", centre: "#8b5cf6" },  // violet
    { left: "#ff8fab", right: "#be123c", centre: "#f43f5e" },  // rose
    { left: "#f1f5f9", right: "#64748b", centre: "#cbd5e1" },  // slate
    { left: "#fdba74", right: "#c2410c", centre: "#f97316" },  // orange
  ];

  // Skeleton edges by part name, per schema (the same tables as posekit.skeletons).
  const SCHEMAS = [
    { name: "coco17", size: 17, edges: [
      ["nose", "left_eye"], ["nose", "right_eye"], ["left_eye", "left_ear"], ["right_eye", "right_ear"],
      ["left_shoulder", "right_shoulder"], ["left_shoulder", "left_elbow"], ["left_elbow", "left_wrist"],
      ["right_shoulder", "right_elbow"], ["right_elbow", "right_wrist"], ["left_shoulder", "left_hip"],
      ["right_shoulder", "right_hip"], ["left_hip", "right_hip"], ["left_hip", "left_knee"],
      ["left_knee", "left_ankle"], ["right_hip", "right_knee"], ["right_knee", "right_ankle"],
    ] },
    { name: "mpii16", size: 16, edges: [
      ["right_ankle", "right_knee"], ["right_knee", "right_hip"], ["right_hip", "pelvis"],
      ["left_ankle", "left_knee"], ["left_knee", "left_hip"], ["left_hip", "pelvis"],
      ["pelvis", "thorax"], ["thorax", "upper_neck"], ["upper_neck", "head_top"],
      ["right_wrist", "right_elbow"], ["right_elbow", "right_shoulder"], ["right_shoulder", "thorax"],
      ["left_wrist", "left_elbow"], ["left_elbow", "left_shoulder"], ["left_shoulder", "thorax"],
    ] },
    { name: "lsp14", size: 14, edges: [
      ["right_ankle", "right_knee"], ["right_knee", "right_hip"], ["left_ankle", "left_knee"],
      ["left_knee", "left_hip"], ["right_hip", "left_hip"], ["right_wrist", "right_elbow"],
      ["right_elbow", "right_shoulder"], ["left_wrist", "left_elbow"], ["left_elbow", "left_shoulder"],
      ["right_shoulder", "left_shoulder"], ["right_shoulder", "right_hip"], ["left_shoulder", "left_hip"],
      ["neck", "head_top"], ["right_shoulder", "neck"], ["left_shoulder", "neck"],
    ] },
    { name: "blazepose33", size: 33, edges: [
      ["nose", "left_eye_inner"], ["left_eye_inner", "left_eye"], ["left_eye", "left_eye_outer"],
      ["left_eye_outer", "left_ear"], ["nose", "right_eye_inner"], ["right_eye_inner", "right_eye"],
      ["right_eye", "right_eye_outer"], ["right_eye_outer", "right_ear"], ["mouth_left", "mouth_right"],
      ["left_shoulder", "right_shoulder"], ["left_shoulder", "left_elbow"], ["left_elbow", "left_wrist"],
      ["left_wrist", "left_pinky"], ["left_wrist", "left_index"], ["left_wrist", "left_thumb"],
      ["left_pinky", "left_index"], ["right_shoulder", "right_elbow"], ["right_elbow", "right_wrist"],
      ["right_wrist", "right_pinky"], ["right_wrist", "right_index"], ["right_wrist", "right_thumb"],
      ["right_pinky", "right_index"], ["left_shoulder", "left_hip"], ["right_shoulder", "right_hip"],
      ["left_hip", "right_hip"], ["left_hip", "left_knee"], ["left_knee", "left_ankle"],
      ["left_ankle", "left_heel"], ["left_heel", "left_foot_index"], ["left_ankle", "left_foot_index"],
      ["right_hip", "right_knee"], ["right_knee", "right_ankle"], ["right_ankle", "right_heel"],
      ["right_heel", "right_foot_index"], ["right_ankle", "right_foot_index"],
    ] },
  ];

  const $ = (id) => document.getElementById(id);
  const ui = {
    start: $("start"), file: $("file"), model: $("model"), mirror: $("mirror"), topdown: $("topdown"),
    error: $("error"), status: $("status"), stage: $("stage"), video: $("video"), photo: $("photo"),
    overlay: $("overlay"), fps: $("fps"), latency: $("latency"), people: $("people"), serverMs: $("server-ms"),
  };
  const overlayCtx = ui.overlay.getContext("2d");
  const capture = document.createElement("canvas");
  const captureCtx = capture.getContext("2d");

  // Counters for people and for tests (tests/test_serve_page.py reads them).
  const stats = {
    mode: "idle", model: "", framesSent: 0, framesAnswered: 0, framesWithPeople: 0, framesWithTracks: 0,
    people: 0, trackIds: [], fps: 0, latencyMs: 0, serverMs: 0, latencyTotalMs: 0, serverTotalMs: 0,
    serverDropped: 0, errors: 0, lastError: "", reconnects: 0,
    photosAnswered: 0, photoPoses: 0, photoModel: "", photoBoxes: 0, draws: 0, edgesDrawn: 0,
  };
  window.posekitStats = stats;
  window.posekitPalette = PALETTE;

  const state = {
    stream: null,       // MediaStream while the camera runs
    ws: null,           // the current WebSocket; answers from older sockets are ignored
    inFlight: false,    // exactly one frame in flight
    sentAt: 0,
    answeredOnSocket: 0,
    socketError: "",    // the last {"error"} this socket sent: the reason if the server then closes it
    watchdog: 0,
    reconnectTimer: 0,
    backoffMs: 500,
    result: null,       // the last answer drawn: {width, height, poses}
    answerTimes: [],
    photoBlob: null,
    photoSeq: 0,
    drawPending: false,
    videoFrames: 0,     // camera frames presented so far (requestVideoFrameCallback)
    sentVideoFrame: -1, // the camera frame last sent
    waitingForFrame: false,
    streamError: false, // the error shown is the stream's: cleared by the next good answer
  };

  // --- messages ------------------------------------------------------------------------------------------
  function showError(message) {
    stats.errors += 1;
    stats.lastError = message;
    ui.error.textContent = message;
    ui.error.hidden = false;
  }
  function clearError() {
    ui.error.hidden = true;
    ui.error.textContent = "";
    state.streamError = false;
  }
  // An error of the stream (lost connection, rejected frame) goes away by itself with the next good answer.
  function showStreamError(message) {
    showError(message);
    state.streamError = true;
  }
  function setStatus(message) {
    if (ui.status.textContent !== message) ui.status.textContent = message;  // a live region: no churn
  }
  window.addEventListener("unhandledrejection", (ev) => showError(`Unexpected error: ${ev.reason}`));

  // --- models --------------------------------------------------------------------------------------------
  async function loadModels() {
    let body;
    try {
      const resp = await fetch("/v1/models", { headers: authHeaders });
      body = await readJson(resp);
    } catch (err) {
      showError(`Cannot list the models: ${err.message}`);
      return;
    }
    const wanted = params.get("model");
    ui.model.textContent = "";
    for (const name of body.available) {
      const option = new Option(body.loaded.includes(name) ? `${name} (loaded)` : name, name);
      ui.model.add(option);
    }
    ui.model.value = body.available.includes(wanted) ? wanted : body.default;
    stats.model = ui.model.value;
  }

  function markLoaded(name) {
    const option = [...ui.model.options].find((o) => o.value === name);
    if (option) option.text = `${name} (loaded)`;
  }

  // Parse a JSON answer; a 4xx/5xx becomes an Error carrying the server's {"error": ...} message.
  async function readJson(resp) {
    let body = null;
    try {
      body = await resp.json();
    } catch {
      // not JSON: reported below with the HTTP status
    }
    if (!resp.ok) {
      const why = body && body.error ? body.error : resp.statusText;
      const hint = resp.status === 401 || resp.status === 403
        ? " (open the page with ?token=YOUR_TOKEN)" : "";
      throw new Error(`the server answered ${resp.status}: ${why}${hint}`);
    }
    if (body === null) throw new Error("the server's answer is not JSON");
    return body;
  }

  // The model or the mode changed: the camera reconnects with it, a photo is sent again.
  function settingsChanged() {
    stats.model = ui.model.value;
    state.result = null;
    requestDraw();
    if (state.stream) {
      dropSocket();
      connect();
    } else if (state.photoBlob) {
      postPhoto();
    }
  }
  ui.model.addEventListener("change", settingsChanged);
  ui.topdown.addEventListener("change", settingsChanged);

  // The query of both endpoints: model, top-down mode (the server's default detector), pose-score floor.
  function setQuery(url) {
    if (ui.model.value) url.searchParams.set("model", ui.model.value);
    if (ui.topdown.checked) url.searchParams.set("mode", "topdown");
    url.searchParams.set("min_score", String(minScore));
  }

  // --- camera and stream ---------------------------------------------------------------------------------
  async function startCamera() {
    clearError();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("This browser gives no camera here: open the page over https or on localhost.");
      return;
    }
    ui.start.disabled = true;
    setStatus("Asking for the camera…");
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        audio: false, video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
      });
      ui.video.srcObject = state.stream;
      await ui.video.play();
    } catch (err) {
      stopCamera();
      showError(cameraErrorMessage(err));
      setStatus("Camera off.");
      return;
    } finally {
      ui.start.disabled = false;
    }
    state.photoBlob = null;
    state.result = null;
    state.answerTimes = [];
    setMode("camera");
    ui.photo.hidden = true;
    ui.video.hidden = false;
    ui.stage.classList.remove("empty");
    setAspect(ui.video.videoWidth || 4, ui.video.videoHeight || 3);
    ui.start.textContent = "Stop camera";
    ui.start.setAttribute("aria-pressed", "true");
    state.waitingForFrame = false;
    watchVideoFrames();
    connect();
  }

  function cameraErrorMessage(err) {
    switch (err && err.name) {
      case "NotAllowedError": return "Camera permission denied: allow the camera for this site and try again.";
      case "NotFoundError": return "No camera found on this device.";
      case "NotReadableError": return "The camera is busy in another application.";
      default: return `Cannot start the camera: ${err && err.message ? err.message : err}`;
    }
  }

  function stopCamera() {
    if (state.streamError) clearError();
    dropSocket();
    clearTimeout(state.reconnectTimer);
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    ui.video.srcObject = null;
    ui.start.textContent = "Start camera";
    ui.start.setAttribute("aria-pressed", "false");
    if (stats.mode === "camera") {
      setMode("idle");
      state.result = null;
      ui.stage.classList.add("empty");
      requestDraw();
      setStatus("Camera off.");
    }
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    const url = new URL("/v1/stream", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    setQuery(url);
    if (token) url.searchParams.set("token", token);
    const ws = new WebSocket(url);
    state.ws = ws;
    state.inFlight = false;
    state.answeredOnSocket = 0;
    state.socketError = "";
    setStatus(`Connecting; the server may be loading ${ui.model.value || "the default model"}…`);
    ws.onopen = () => { if (ws === state.ws) sendFrame(); };
    ws.onmessage = (ev) => { if (ws === state.ws) onAnswer(ev.data); };
    ws.onclose = (ev) => { if (ws === state.ws) onClose(ev); };
    // Browsers give no detail on "error"; the "close" event that always follows reports it.
  }

  // Forget the current socket (its late events are ignored) and close it.
  function dropSocket() {
    clearTimeout(state.watchdog);
    const ws = state.ws;
    state.ws = null;
    state.inFlight = false;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "client closed");
  }

  function sendFrame() {
    const ws = state.ws;
    if (!state.stream || !ws || ws.readyState !== WebSocket.OPEN || state.inFlight) return;
    const video = ui.video;
    if (video.readyState < video.HAVE_CURRENT_DATA || !video.videoWidth) {
      setTimeout(sendFrame, 50);
      return;
    }
    // Where the browser tells us when the camera has a new frame, never send the same frame twice: the
    // answer would be the same, and the server's CPU is better left to other clients.
    if (HAS_FRAME_CALLBACK && state.sentVideoFrame === state.videoFrames) {
      state.waitingForFrame = true;
      return;
    }
    state.sentVideoFrame = state.videoFrames;
    state.inFlight = true;
    const scale = Math.min(1, CAPTURE_MAX / Math.max(video.videoWidth, video.videoHeight));
    const width = Math.round(video.videoWidth * scale);
    const height = Math.round(video.videoHeight * scale);
    if (capture.width !== width || capture.height !== height) {
      capture.width = width;
      capture.height = height;
    }
    captureCtx.drawImage(video, 0, 0, capture.width, capture.height);
    capture.toBlob((blob) => {
      if (ws !== state.ws || ws.readyState !== WebSocket.OPEN) return;
      if (!blob) {
        state.inFlight = false;
        showError("The browser could not encode the camera frame as JPEG.");
        return;
      }
      state.sentAt = performance.now();
      ws.send(blob);
      stats.framesSent += 1;
      // Before the first answer the server may still be loading the model: no timeout then.
      if (state.answeredOnSocket > 0) {
        clearTimeout(state.watchdog);
        state.watchdog = setTimeout(() => {
          showStreamError(`No answer for ${ANSWER_TIMEOUT_MS / 1000} s: reconnecting…`);
          dropSocket();
          scheduleReconnect();
        }, ANSWER_TIMEOUT_MS);
      }
    }, "image/jpeg", JPEG_QUALITY);
  }

  const HAS_FRAME_CALLBACK = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  function watchVideoFrames() {
    if (!HAS_FRAME_CALLBACK) return;
    const stream = state.stream;
    const onFrame = () => {
      if (state.stream !== stream) return;  // this camera was stopped: end this callback chain
      state.videoFrames += 1;
      if (state.waitingForFrame) {
        state.waitingForFrame = false;
        sendFrame();
      }
      ui.video.requestVideoFrameCallback(onFrame);
    };
    ui.video.requestVideoFrameCallback(onFrame);
  }

  function onAnswer(data) {
    clearTimeout(state.watchdog);
    state.inFlight = false;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      showStreamError("The server sent an answer that is not JSON.");
      setTimeout(sendFrame, 250);
      return;
    }
    if (msg.error) {
      state.socketError = msg.error;
      showStreamError(`The server rejected a frame: ${msg.error}`);
      setTimeout(sendFrame, 250);  // keep trying, without flooding the server with bad frames
      return;
    }
    const now = performance.now();
    const rtt = now - state.sentAt;
    state.answeredOnSocket += 1;
    state.backoffMs = 500;
    if (state.streamError) clearError();
    sendFrame();  // the next frame goes out before we draw this one

    state.result = msg;
    stats.framesAnswered += 1;
    stats.people = msg.poses.length;
    stats.trackIds = msg.poses.map((p) => p.track_id).filter((id) => id !== undefined && id !== null);
    if (stats.people > 0) stats.framesWithPeople += 1;
    if (stats.trackIds.length > 0) stats.framesWithTracks += 1;
    // Shown: moving averages over the last few frames (one frame's figure jumps too much to read).
    const serverMs = msg.timing ? msg.timing.total_ms : 0;
    const first = state.answeredOnSocket === 1;
    stats.latencyMs = first ? rtt : 0.8 * stats.latencyMs + 0.2 * rtt;
    stats.serverMs = first ? serverMs : 0.8 * stats.serverMs + 0.2 * serverMs;
    stats.latencyTotalMs += rtt;
    stats.serverTotalMs += serverMs;
    stats.serverDropped = msg.dropped || 0;
    if (first) markLoaded(ui.model.value);
    state.answerTimes.push(now);
    while (state.answerTimes.length > 2 && now - state.answerTimes[0] > 2000) state.answerTimes.shift();
    const span = now - state.answerTimes[0];
    stats.fps = span > 0 ? (1000 * (state.answerTimes.length - 1)) / span : 0;
    showNumbers();
    setStatus(`Streaming with ${ui.model.value || "the default model"}.`);
    requestDraw();
  }

  function onClose(ev) {
    clearTimeout(state.watchdog);
    state.ws = null;
    state.inFlight = false;
    if (!state.stream) return;
    // 1008 (policy) and 4xxx are the server saying no (bad token, unknown model): retrying will not help.
    if (ev.code === 1008 || (ev.code >= 4000 && ev.code < 5000)) {
      stopCamera();
      showError(`The server refused the stream: ${ev.reason || state.socketError || `code ${ev.code}`}`);
      return;
    }
    showStreamError(`Connection lost${ev.reason ? `: ${ev.reason}` : ""}; reconnecting in ` +
      `${(state.backoffMs / 1000).toFixed(1)} s…`);
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    stats.reconnects += 1;
    state.reconnectTimer = setTimeout(() => { if (state.stream) connect(); }, state.backoffMs);
    state.backoffMs = Math.min(2 * state.backoffMs, BACKOFF_MAX_MS);
  }

  function showNumbers() {
    ui.fps.textContent = stats.fps.toFixed(1);
    ui.latency.textContent = `${Math.round(stats.latencyMs)} ms`;
    ui.people.textContent = String(stats.people);
    ui.serverMs.textContent = `${Math.round(stats.serverMs)} ms`;
  }

  // A phone turned on its side turns its camera's frames too.
  ui.video.addEventListener("resize", () => {
    if (stats.mode === "camera" && ui.video.videoWidth) setAspect(ui.video.videoWidth, ui.video.videoHeight);
  });

  ui.start.addEventListener("click", () => {
    if (state.stream) stopCamera();
    else startCamera();
  });

  // --- photo mode ----------------------------------------------------------------------------------------
  async function usePhoto(file) {
    clearError();
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      showError(`${file.name} is not an image (${file.type}).`);
      return;
    }
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);  // applies the photo's EXIF orientation
    } catch {
      showError(`Cannot read ${file.name} as an image.`);
      return;
    }
    stopCamera();
    const scale = Math.min(1, PHOTO_MAX / Math.max(bitmap.width, bitmap.height));
    ui.photo.width = Math.round(bitmap.width * scale);
    ui.photo.height = Math.round(bitmap.height * scale);
    ui.photo.getContext("2d").drawImage(bitmap, 0, 0, ui.photo.width, ui.photo.height);
    bitmap.close();
    state.photoBlob = await new Promise((resolve) => ui.photo.toBlob(resolve, "image/jpeg", 0.9));
    if (!state.photoBlob) {
      showError("The browser could not encode the photo as JPEG.");
      return;
    }
    setMode("photo");
    state.result = null;
    ui.video.hidden = true;
    ui.photo.hidden = false;
    ui.stage.classList.remove("empty");
    setAspect(ui.photo.width, ui.photo.height);
    await postPhoto();
  }

  async function postPhoto() {
    const seq = ++state.photoSeq;
    const url = new URL("/v1/poses", location.href);
    setQuery(url);
    url.searchParams.set("format", "posenet");
    setStatus(`Estimating poses with ${ui.model.value || "the default model"}…`);
    const t0 = performance.now();
    let body;
    try {
      const resp = await fetch(url, {
        method: "POST", body: state.photoBlob, headers: { ...authHeaders, "Content-Type": "image/jpeg" },
      });
      body = await readJson(resp);
    } catch (err) {
      if (seq === state.photoSeq) {
        showError(`Cannot estimate poses on the photo: ${err.message}`);
        setStatus("Photo not analysed.");
      }
      return;
    }
    if (seq !== state.photoSeq || stats.mode !== "photo") return;  // a newer photo or the camera took over
    state.result = body;
    stats.photosAnswered += 1;
    stats.photoPoses = body.poses.length;
    stats.photoModel = body.model;
    stats.photoBoxes = body.poses.filter((p) => p.box).length;
    markLoaded(body.model);
    stats.people = body.poses.length;
    stats.latencyMs = performance.now() - t0;
    stats.serverMs = body.timing ? body.timing.total_ms : 0;
    ui.fps.textContent = "–";
    ui.latency.textContent = `${Math.round(stats.latencyMs)} ms`;
    ui.people.textContent = String(stats.people);
    ui.serverMs.textContent = `${Math.round(stats.serverMs)} ms`;
    setStatus(body.poses.length ? `Found ${body.poses.length} ${body.poses.length === 1 ? "person" : "people"}.`
      : "Nobody found in this photo.");
    requestDraw();
  }

  ui.file.addEventListener("change", () => {
    usePhoto(ui.file.files[0]);
    ui.file.value = "";  // picking the same file again fires "change" again
  });
  ui.stage.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    ui.stage.classList.add("dragging");
  });
  ui.stage.addEventListener("dragleave", () => ui.stage.classList.remove("dragging"));
  ui.stage.addEventListener("drop", (ev) => {
    ev.preventDefault();
    ui.stage.classList.remove("dragging");
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) usePhoto(file);
    else showError("Drop an image file.");
  });

  // --- drawing -------------------------------------------------------------------------------------------
  function setAspect(width, height) {
    ui.stage.style.aspectRatio = `${width} / ${height}`;
    // Keep the whole picture on screen: never taller than most of the viewport.
    ui.stage.style.maxWidth = `min(100%, calc(72vh * ${(width / height).toFixed(4)}))`;
    requestDraw();
  }

  // Mirroring is remembered per mode: on for the camera (a mirror is what people expect of a selfie view),
  // off for photos (shown as taken).
  const mirrorFor = { camera: ui.mirror.checked, photo: false };
  function setMode(mode) {
    stats.mode = mode;
    if (mode !== "idle") ui.mirror.checked = mirrorFor[mode];
    ui.stage.classList.toggle("mirrored", ui.mirror.checked);
  }
  ui.mirror.addEventListener("change", () => {
    mirrorFor[stats.mode === "photo" ? "photo" : "camera"] = ui.mirror.checked;
    ui.stage.classList.toggle("mirrored", ui.mirror.checked);
    requestDraw();
  });
  window.addEventListener("resize", requestDraw);

  // The overlay is its own layer over the video: it is redrawn only when a result, the size or the mirror
  // changes, and the last result stays on screen while the next frame is in flight.
  function requestDraw() {
    if (state.drawPending) return;
    state.drawPending = true;
    requestAnimationFrame(draw);
  }

  function draw() {
    state.drawPending = false;
    const canvas = ui.overlay;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    overlayCtx.clearRect(0, 0, width, height);
    stats.edgesDrawn = 0;
    const result = state.result;
    if (!result || !result.width || !result.height) return;
    const view = {
      sx: width / result.width, sy: height / result.height, width, mirror: ui.mirror.checked,
      line: Math.max(2, Math.round(width / 160)),
    };
    result.poses.forEach((pose, i) => drawPose(pose, i, view));
    stats.draws += 1;
  }

  const edgeCache = new Map();
  function edgesFor(parts) {
    const key = parts.join(",");
    if (!edgeCache.has(key)) {
      const names = new Set(parts);
      const schema = SCHEMAS.find((s) => s.size === parts.length && s.edges.flat().every((n) => names.has(n)));
      edgeCache.set(key, schema ? schema.edges : []);  // unknown schema: keypoints only
    }
    return edgeCache.get(key);
  }

  function sideOf(name) {
    if (name.startsWith("left_") || name.startsWith("l_") || name.endsWith("_left")) return "left";
    if (name.startsWith("right_") || name.startsWith("r_") || name.endsWith("_right")) return "right";
    return "centre";
  }
  function edgeSide(a, b) {
    const sides = new Set([sideOf(a), sideOf(b)]);
    if (sides.has("left") && !sides.has("right")) return "left";
    if (sides.has("right") && !sides.has("left")) return "right";
    return "centre";
  }

  function drawPose(pose, index, view) {
    const ctx = overlayCtx;
    const hasTrack = pose.track_id !== undefined && pose.track_id !== null;
    const colours = PALETTE[(hasTrack ? pose.track_id : index) % PALETTE.length];
    const points = new Map();
    for (const kp of pose.keypoints) {
      if (kp.score < minScore) continue;
      const x = kp.position.x * view.sx;
      points.set(kp.part, { x: view.mirror ? view.width - x : x, y: kp.position.y * view.sy });
    }
    const parts = pose.keypoints.map((kp) => kp.part);

    ctx.lineCap = "round";
    for (const [a, b] of edgesFor(parts)) {
      const p = points.get(a);
      const q = points.get(b);
      if (!p || !q) continue;
      // A dark outline under each limb keeps it visible over light clothes.
      ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
      ctx.lineWidth = view.line + 2;
      line(ctx, p, q);
      ctx.strokeStyle = colours[edgeSide(a, b)];
      ctx.lineWidth = view.line;
      line(ctx, p, q);
      stats.edgesDrawn += 1;
    }
    for (const [part, p] of points) {
      ctx.beginPath();
      ctx.arc(p.x, p.y, view.line * 1.1, 0, 2 * Math.PI);
      ctx.fillStyle = colours[sideOf(part)];
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
      ctx.stroke();
    }
    if (points.size > 0) drawLabel(ctx, pose, hasTrack, colours.centre, points, view);
  }

  function line(ctx, p, q) {
    ctx.beginPath();
    ctx.moveTo(p.x, p.y);
    ctx.lineTo(q.x, q.y);
    ctx.stroke();
  }

  // "#ID" for a tracked person (camera), the pose score for a photo; above the box, or above the highest
  // keypoint by a share of the person's height (the highest keypoint is usually an eye, not the head top).
  function drawLabel(ctx, pose, hasTrack, colour, points, view) {
    const text = hasTrack ? `#${pose.track_id}` : `${Math.round(100 * pose.score)}%`;
    const ys = [...points.values()].map((p) => p.y);
    const top = [...points.values()].find((p) => p.y === Math.min(...ys));
    const size = Math.max(12, view.line * 4);
    ctx.font = `bold ${size}px system-ui, sans-serif`;
    const w = ctx.measureText(text).width + size * 0.6;
    const h = size * 1.3;
    let x = top.x - w / 2;
    let y = top.y - h - Math.max(size * 0.5, 0.12 * (Math.max(...ys) - top.y));
    if (pose.box) {
      const cx = ((pose.box.x1 + pose.box.x2) / 2) * view.sx;
      x = (view.mirror ? view.width - cx : cx) - w / 2;
      y = pose.box.y1 * view.sy - h - 2;
    }
    x = Math.min(Math.max(0, x), view.width - w);
    y = Math.max(0, y);
    ctx.fillStyle = colour;
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = "#000";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + size * 0.3, y + h / 2);
  }

  // --- start -----------------------------------------------------------------------------------------------
  setMode("idle");
  loadModels();
})();

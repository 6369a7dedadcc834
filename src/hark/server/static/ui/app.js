// Hark web page: upload or record audio, POST it to /asr?output=all, show the transcript
// with speakers and word timestamps, highlight the word being played, offer every format.
// Live mode: the microphone streams to the /v1/listen WebSocket as PCM16 (live-worklet.js),
// partial text shows in grey, finals in normal text, subtitles download at the end.
// Plain browser JavaScript, no build step, no external resources.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // Whisper's language codes; names come from the browser (Intl.DisplayNames).
  const FALLBACK_LANGUAGES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha " +
    "haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr " +
    "ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg " +
    "th tk tl tr tt uk ur uz vi yi yo zh yue"
  ).split(" ");
  const LANGUAGE_NAMES = { haw: "Hawaiian", jw: "Javanese", yue: "Cantonese" };

  // The server's formats, in the order offered, with the MIME type of the downloaded file.
  const FORMATS = [
    { name: "json", label: "JSON", type: "application/json", what: "full result" },
    { name: "txt", label: "TXT", type: "text/plain;charset=utf-8", what: "plain text" },
    { name: "tsv", label: "TSV", type: "text/tab-separated-values;charset=utf-8", what: "table" },
    { name: "srt", label: "SRT", type: "application/x-subrip;charset=utf-8", what: "subtitles" },
    { name: "vtt", label: "VTT", type: "text/vtt;charset=utf-8", what: "web subtitles" },
    { name: "rttm", label: "RTTM", type: "text/plain;charset=utf-8", what: "speaker turns" },
  ];
  const KEY_STORAGE = "hark.apiKey";

  const el = {
    dropzone: $("dropzone"),
    fileInput: $("file-input"),
    fileName: $("file-name"),
    recordButton: $("record-button"),
    recordLabel: $("record-label"),
    recordTime: $("record-time"),
    liveRow: $("live-row"),
    liveHelp: $("live-help"),
    liveButton: $("live-button"),
    liveLabel: $("live-label"),
    liveTime: $("live-time"),
    live: $("live"),
    liveFinals: $("live-finals"),
    livePartial: $("live-partial"),
    form: $("options-form"),
    language: $("language"),
    diarize: $("diarize"),
    numSpeakersField: $("num-speakers-field"),
    advanced: $("advanced"),
    apiKeyField: $("api-key-field"),
    apiKey: $("api-key"),
    submit: $("transcribe-button"),
    cancel: $("cancel-button"),
    status: $("status"),
    progress: $("upload-progress"),
    statusText: $("status-text"),
    statusAnnounce: $("status-announce"),
    error: $("error"),
    errorTitle: $("error-title"),
    errorMessage: $("error-message"),
    transcriptCard: $("transcript-card"),
    playerWrap: $("player-wrap"),
    player: $("player"),
    playerNote: $("player-note"),
    summary: $("summary"),
    speakers: $("speakers"),
    empty: $("empty"),
    transcript: $("transcript"),
    downloads: $("downloads"),
    downloadList: $("download-list"),
  };

  const state = {
    file: null, // the File to upload
    audioUrl: null, // object URL of that file, for the <audio> element
    downloadUrls: [], // object URLs of the download blobs
    xhr: null, // the request in flight
    timer: null, // elapsed-time ticker while uploading/transcribing
    recorder: null,
    recordTimer: null,
    live: null, // the live session: {ws, audio, stream, ...} while the microphone streams
    words: [], // [{start, end, el}] sorted by start
    current: null, // the highlighted word
    pinned: null, // the word last clicked: wins over others holding the same time
    currentSegment: null,
    raf: 0,
  };

  // ---------------------------------------------------------------- formatting helpers

  function clock(seconds, withMillis) {
    const s = Math.max(0, Number(seconds) || 0);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    const secText = withMillis
      ? sec.toFixed(2).padStart(5, "0")
      : String(Math.floor(sec)).padStart(2, "0");
    const mm = String(m).padStart(2, "0");
    return h ? `${h}:${mm}:${secText}` : `${mm}:${secText}`;
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function languageName(code) {
    if (!code) return "";
    if (LANGUAGE_NAMES[code]) return LANGUAGE_NAMES[code];
    try {
      const names = new Intl.DisplayNames([navigator.language || "en"], { type: "language" });
      const name = names.of(code);
      if (name && name !== code) return name;
    } catch (_) {
      /* older browsers: fall through */
    }
    return code;
  }

  // ---------------------------------------------------------------- messages

  function showError(title, message) {
    el.errorTitle.textContent = title;
    el.errorMessage.textContent = message;
    el.error.hidden = false;
  }

  function clearError() {
    el.error.hidden = true;
    el.errorMessage.textContent = "";
  }

  // The visible line ticks (percentages, elapsed seconds); screen readers hear each phase once.
  function setStatus(text, progress) {
    el.status.hidden = !text;
    el.statusText.textContent = text || "";
    const phase = (text || "").split("…")[0];
    if (phase !== state.announced) {
      state.announced = phase;
      el.statusAnnounce.textContent = text ? (phase === text ? text : `${phase}…`) : "";
    }
    if (progress === undefined || progress === null) {
      el.progress.removeAttribute("value"); // indeterminate
    } else {
      el.progress.value = progress;
    }
  }

  // ---------------------------------------------------------------- choosing audio

  function setFile(file) {
    if (!file) return;
    state.file = file;
    el.fileName.textContent = `${file.name} · ${bytes(file.size)}`;
    el.dropzone.classList.add("has-file");
    if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
    state.audioUrl = URL.createObjectURL(file);
    el.playerNote.hidden = true;
    el.player.src = state.audioUrl;
    el.playerWrap.hidden = false;
    clearTranscript();
    clearError();
    updateButtons();
  }

  el.fileInput.addEventListener("change", () => {
    if (el.fileInput.files && el.fileInput.files[0]) setFile(el.fileInput.files[0]);
  });

  ["dragenter", "dragover"].forEach((type) =>
    el.dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      el.dropzone.classList.add("dragging");
    }),
  );
  ["dragleave", "dragend"].forEach((type) =>
    el.dropzone.addEventListener(type, () => el.dropzone.classList.remove("dragging")),
  );
  el.dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    el.dropzone.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) setFile(file);
  });
  // A file dropped outside the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ---------------------------------------------------------------- recording

  function recorderMime() {
    const candidates = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    return candidates.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
  }

  async function startRecording() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      showError(
        "Recording unavailable",
        "This browser cannot record here (microphone access needs HTTPS or localhost).",
      );
      return;
    }
    clearError();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      showError("Microphone unavailable", err && err.message ? err.message : String(err));
      return;
    }
    const mime = recorderMime();
    const recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
    const chunks = [];
    const started = Date.now();
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      clearInterval(state.recordTimer);
      state.recorder = null;
      el.recordButton.setAttribute("aria-pressed", "false");
      el.recordButton.classList.remove("recording");
      el.recordLabel.textContent = "Record from microphone";
      el.recordTime.textContent = "";
      const type = (recorder.mimeType || mime || "audio/webm").split(";")[0];
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
      if (chunks.length) setFile(new File(chunks, `recording-${stamp}.${ext}`, { type }));
      updateButtons();
    });
    state.recorder = recorder;
    recorder.start(250);
    el.recordButton.setAttribute("aria-pressed", "true");
    el.recordButton.classList.add("recording");
    el.recordLabel.textContent = "Stop recording";
    el.recordTime.textContent = "00:00";
    state.recordTimer = setInterval(() => {
      el.recordTime.textContent = clock((Date.now() - started) / 1000);
    }, 250);
    updateButtons();
  }

  el.recordButton.addEventListener("click", () => {
    if (state.recorder) state.recorder.stop();
    else startRecording();
  });

  // ---------------------------------------------------------------- live captions

  // Why PCM16 from an AudioWorklet rather than MediaRecorder chunks: every current browser has
  // AudioWorklet, the samples leave ~100 ms after they are heard (MediaRecorder's container
  // pages add their own delay and a codec round trip), a lost or reordered chunk cannot break a
  // decoder's state, and the server needs no container parsing. 32 kB/s is nothing on a LAN.
  const LIVE_RATE = 16000;
  const LIVE_FORMATS = ["srt", "vtt", "txt", "json"];
  // The advanced fields a live stream takes too (the rest are about whole files).
  const LIVE_FIELDS = [
    "beam_size",
    "temperature",
    "max_new_tokens",
    "suppress_tokens",
    "initial_prompt",
    "hotwords",
  ];
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/; // what a WebSocket subprotocol may hold

  function liveUrl(rate) {
    const url = new URL("v1/listen", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    const language = el.language.value;
    const task = $("task").value;
    if (language) url.searchParams.set("language", language);
    if (task && task !== "transcribe") url.searchParams.set("task", task);
    if (el.diarize.checked) url.searchParams.set("diarize", "true");
    for (const name of LIVE_FIELDS) {
      const control = el.form.elements.namedItem(name);
      const value = control ? String(control.value || "").trim() : "";
      if (value) url.searchParams.set(name, value);
    }
    url.searchParams.set("format", "pcm16");
    if (rate !== LIVE_RATE) url.searchParams.set("sample_rate", String(Math.round(rate)));
    // The key: as a subprotocol (never in a URL, so never in an access log) when it is a
    // valid token, else as ?api_key= (the other form the server accepts from browsers).
    // "hark.v1" is offered too: the server answers with it, and a browser fails a handshake
    // whose answered subprotocol it did not offer.
    const key = el.apiKey.value.trim();
    const protocols = ["hark.v1"];
    if (key && TOKEN.test(key)) protocols.push(`hark.bearer.${key}`);
    else if (key) url.searchParams.set("api_key", key);
    return { url: url.href, protocols };
  }

  function setLiveButton(on, label) {
    el.liveButton.setAttribute("aria-pressed", on ? "true" : "false");
    el.liveButton.classList.toggle("live-on", on);
    el.liveLabel.textContent = label;
  }

  function liveStatus() {
    const live = state.live;
    if (!live || !live.started) return;
    const heard = (performance.now() - live.started) / 1000;
    el.liveTime.textContent = clock(heard);
    if (live.ending) return;
    const behind = live.lag >= 0.05 ? ` · ${live.lag.toFixed(1)} s behind` : "";
    setStatus(`Live · ${clock(heard)}${behind}`, null);
  }

  async function startLive() {
    if (
      !navigator.mediaDevices ||
      !navigator.mediaDevices.getUserMedia ||
      !window.AudioWorkletNode ||
      !window.WebSocket
    ) {
      showError(
        "Live captions unavailable",
        "This browser cannot stream the microphone here (it needs HTTPS or localhost).",
      );
      return;
    }
    clearError();
    clearTranscript();
    el.empty.hidden = true;
    el.live.hidden = false;
    const live = { lag: 0, segments: [], speakers: [], ending: false, started: 0 };
    state.live = live;
    setLiveButton(true, "Starting…");
    updateButtons();
    try {
      live.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, autoGainControl: true },
      });
      try {
        live.audio = new AudioContext({ sampleRate: LIVE_RATE });
      } catch (_) {
        live.audio = new AudioContext(); // the browser's own rate; the server is told it
      }
      await live.audio.audioWorklet.addModule("ui/live-worklet.js");
    } catch (err) {
      stopLiveAudio(live);
      state.live = null;
      setLiveButton(false, "Live captions");
      updateButtons();
      showError("Microphone unavailable", err && err.message ? err.message : String(err));
      return;
    }
    if (live.ending) {
      // Stopped while the microphone was being opened.
      stopLiveAudio(live);
      state.live = null;
      setLiveButton(false, "Live captions");
      updateButtons();
      setStatus("Cancelled.", 0);
      return;
    }
    const rate = live.audio.sampleRate;
    const { url, protocols } = liveUrl(rate);
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    live.ws = ws;
    setStatus("Connecting…", null);
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      const message = parseJson(event.data);
      if (message && typeof message.type === "string") onLiveEvent(live, message);
    });
    ws.addEventListener("close", (event) => onLiveClose(live, event));
  }

  // Audio flows once the server said ready: nothing is lost to a connection still opening.
  function startLiveAudio(live) {
    const source = live.audio.createMediaStreamSource(live.stream);
    const node = new AudioWorkletNode(live.audio, "hark-pcm16", {
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { chunk: Math.round(live.audio.sampleRate / 10) },
    });
    node.port.onmessage = (event) => {
      if (live.ws.readyState === WebSocket.OPEN && !live.ending) live.ws.send(event.data);
    };
    source.connect(node);
    node.connect(live.audio.destination); // silent (the worklet writes no output), but pulled
    live.node = node;
    live.source = source;
    live.started = performance.now();
    live.timer = setInterval(liveStatus, 250);
    setLiveButton(true, "Stop");
    liveStatus();
  }

  function stopLiveAudio(live) {
    if (live.node) {
      live.node.port.postMessage("flush");
      live.node.disconnect();
    }
    if (live.source) live.source.disconnect();
    if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
    if (live.audio && live.audio.state !== "closed") live.audio.close().catch(() => {});
    clearInterval(live.timer);
  }

  function stopLive() {
    const live = state.live;
    if (!live || live.ending) return;
    live.ending = true;
    // The last few ms still in the worklet are dropped: they are after "Stop" was pressed.
    stopLiveAudio(live);
    setLiveButton(false, "Finishing…");
    updateButtons();
    setStatus("Finishing…", null);
    if (!live.ws) return; // still opening the microphone: startLive sees `ending`
    if (live.ws.readyState === WebSocket.OPEN && live.sessionId) {
      live.ws.send(JSON.stringify({ type: "end" }));
    } else {
      live.ws.close();
    }
  }

  function onLiveEvent(live, message) {
    switch (message.type) {
      case "ready":
        live.sessionId = message.session_id;
        if (!live.ending) startLiveAudio(live);
        break;
      case "partial":
        el.livePartial.textContent = String(message.text || "").trim();
        break;
      case "final":
        if (message.segment) addLiveSegment(live, message.segment);
        break;
      case "lag":
        live.lag = Number(message.seconds) || 0;
        liveStatus();
        break;
      case "error":
        live.error = message;
        break;
      case "done":
        live.done = message;
        el.livePartial.textContent = "";
        break;
      default:
        break; // newer servers may send more; nothing to do
    }
  }

  function addLiveSegment(live, segment) {
    const text = String(segment.text || "").trim();
    if (!text) return;
    el.livePartial.textContent = "";
    const item = document.createElement("li");
    item.className = "segment final";
    item.dataset.start = segment.start;
    item.dataset.end = segment.end;
    const head = document.createElement("div");
    head.className = "segment-head";
    const stamp = document.createElement("span");
    stamp.className = "timestamp";
    stamp.textContent = `${clock(segment.start, true)} – ${clock(segment.end, true)}`;
    head.append(stamp);
    if (segment.speaker) {
      head.append(speakerChip(live.speakers, segment.speaker));
      item.classList.add(speakerClass(live.speakers, segment.speaker));
    }
    const body = document.createElement("p");
    body.className = "segment-text";
    body.textContent = text;
    item.append(head, body);
    el.liveFinals.append(item);
    live.segments.push(segment);
    item.scrollIntoView({ block: "nearest" });
  }

  function onLiveClose(live, event) {
    stopLiveAudio(live);
    if (state.live === live) state.live = null;
    setLiveButton(false, "Live captions");
    el.liveTime.textContent = "";
    el.livePartial.textContent = "";
    updateButtons();
    if (live.done && event.code === 1000) {
      const transcript = live.done.transcript || {};
      const segments = live.segments.length;
      const parts = [];
      if (transcript.language) parts.push(`Language: ${languageName(transcript.language)}`);
      if (Number.isFinite(transcript.duration)) {
        parts.push(`Duration: ${clock(transcript.duration)}`);
      }
      parts.push(`${segments} segment${segments === 1 ? "" : "s"}`);
      el.summary.textContent = parts.join(" · ");
      el.summary.hidden = false;
      if (!segments) {
        el.empty.textContent = "No speech was heard.";
        el.empty.hidden = false;
      }
      setStatus("Fetching subtitles…", null);
      liveDownloads(live.sessionId || live.done.session_id);
      return;
    }
    if (live.ending && !live.sessionId) {
      setStatus("Cancelled.", 0); // given up before the server was ready
      return;
    }
    // An abnormal close: say why (the error event's message, else the close reason).
    setStatus("", 0);
    const titles = {
      1008: "Not allowed",
      1013: "Server busy",
      1003: "Unusable audio",
      1009: "Message too big",
      1011: "Server error",
    };
    const code = live.error && live.error.code ? ` · ${live.error.code}` : "";
    const title = `${titles[event.code] || "Live stream closed"} (${event.code})${code}`;
    let message = (live.error && live.error.message) || event.reason;
    if (!message) {
      message = live.sessionId
        ? "The connection to the server was lost."
        : "The server did not accept the stream. Is it running, and is the API key right?";
    }
    showError(title, message);
    if (event.code === 1008 || (!live.sessionId && event.code === 1006)) showApiKeyField(false);
  }

  // The session's subtitles, rendered by the server, as download links.
  async function liveDownloads(sessionId) {
    const headers = {};
    const key = el.apiKey.value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    const results = await Promise.all(
      LIVE_FORMATS.map(async (name) => {
        try {
          const response = await fetch(
            `v1/listen/${encodeURIComponent(sessionId)}?output=${name}`,
            { headers, cache: "no-store" },
          );
          if (!response.ok) return null;
          const format = FORMATS.find((f) => f.name === name);
          return { format, text: await response.text() };
        } catch (_) {
          return null;
        }
      }),
    );
    const files = results.filter(Boolean);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    renderDownloads(files, `live-${stamp}`);
    setStatus(files.length ? "Done." : "Done (the subtitles could not be fetched).", 100);
  }

  el.liveButton.addEventListener("click", () => {
    if (state.live) stopLive();
    else startLive();
  });

  // ---------------------------------------------------------------- options

  function fillLanguages(codes) {
    const options = codes
      .map((code) => ({ code, name: languageName(code) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const { code, name } of options) {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = name === code ? code : `${name} (${code})`;
      el.language.append(option);
    }
  }

  function syncDiarize() {
    el.numSpeakersField.hidden = !el.diarize.checked;
  }
  el.diarize.addEventListener("change", syncDiarize);

  // Query parameters of the page URL preset the form: /?language=en&beam_size=1 ...
  function applyUrlParams() {
    const params = new URLSearchParams(location.search);
    for (const [name, value] of params) {
      const control = el.form.elements.namedItem(name);
      if (!control || !(control instanceof HTMLElement) || !("value" in control)) continue;
      if (control.type === "checkbox") {
        control.checked = !["", "0", "false", "no", "off"].includes(value.toLowerCase());
      } else {
        control.value = value;
      }
      if (el.advanced.contains(control)) el.advanced.open = true;
    }
    syncDiarize();
  }

  function showApiKeyField(focus) {
    el.apiKeyField.hidden = false;
    if (focus) el.apiKey.focus();
  }

  el.apiKey.addEventListener("input", () => {
    try {
      sessionStorage.setItem(KEY_STORAGE, el.apiKey.value);
    } catch (_) {
      /* storage disabled */
    }
  });

  async function loadConfig() {
    let languages = FALLBACK_LANGUAGES;
    try {
      const response = await fetch("ui/config.json", { cache: "no-store" });
      if (response.ok) {
        const config = await response.json();
        if (Array.isArray(config.languages) && config.languages.length) {
          languages = config.languages;
        }
        if (config.auth) showApiKeyField(false);
        if (config.live) {
          el.liveRow.hidden = false;
          el.liveHelp.hidden = false;
        }
        if (config.max_upload_mb) state.maxUploadMb = Number(config.max_upload_mb);
      }
    } catch (_) {
      /* the page still works with the defaults */
    }
    const selected = el.language.value;
    fillLanguages(languages);
    el.language.value = selected;
  }

  function formFields() {
    const data = new FormData();
    data.append("file", state.file, state.file.name || "audio");
    data.append("output", "all");
    for (const control of el.form.elements) {
      if (!control.name || control.disabled) continue;
      if (control.name === "num_speakers" && !el.diarize.checked) continue;
      if (control.type === "checkbox") {
        if (control.checked) data.append(control.name, "true");
        continue;
      }
      const value = String(control.value || "").trim();
      if (value) data.append(control.name, value);
    }
    return data;
  }

  // ---------------------------------------------------------------- request

  function updateButtons() {
    const busy = Boolean(state.xhr);
    const live = Boolean(state.live);
    el.submit.disabled = busy || live || !state.file || Boolean(state.recorder);
    el.cancel.hidden = !busy;
    el.recordButton.disabled = busy || live;
    // Live: pressing again during "Starting…" gives up; nothing to press while finishing.
    el.liveButton.disabled = busy || Boolean(state.recorder) || (live && state.live.ending);
    el.fileInput.disabled = busy || live;
    el.form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function stopTimer() {
    clearInterval(state.timer);
    state.timer = null;
  }

  function transcribe() {
    if (!state.file || state.xhr) return;
    clearError();
    if (state.maxUploadMb && state.file.size > state.maxUploadMb * 1024 * 1024) {
      showError(
        "File too large",
        `${state.file.name} is ${bytes(state.file.size)}; this server accepts up to ` +
          `${state.maxUploadMb} MB.`,
      );
      return;
    }
    const data = formFields();
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    const started = performance.now();
    let phase = "upload";
    const elapsed = () => ((performance.now() - started) / 1000).toFixed(1);

    xhr.open("POST", "asr");
    xhr.setRequestHeader("Accept", "application/json");
    const key = el.apiKey.value.trim();
    if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);

    setStatus("Uploading…", 0);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.round((event.loaded / event.total) * 100);
      setStatus(`Uploading… ${percent}% of ${bytes(event.total)}`, percent);
    });
    xhr.upload.addEventListener("load", () => {
      phase = "transcribe";
      setStatus(`Transcribing… ${elapsed()} s`, null);
    });
    state.timer = setInterval(() => {
      if (phase === "transcribe") setStatus(`Transcribing… ${elapsed()} s`, null);
    }, 200);

    const finish = () => {
      stopTimer();
      state.xhr = null;
      updateButtons();
    };
    xhr.addEventListener("load", () => {
      finish();
      const seconds = elapsed();
      handleResponse(xhr, seconds);
    });
    xhr.addEventListener("error", () => {
      finish();
      setStatus("", 0);
      showError("Network error", "The server could not be reached. Is it still running?");
    });
    xhr.addEventListener("abort", () => {
      finish();
      setStatus("Cancelled.", 0);
    });
    updateButtons();
    xhr.send(data);
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (_) {
      return null;
    }
  }

  function apiError(xhr) {
    const body = parseJson(xhr.responseText);
    let code = "";
    let message = "";
    if (body && body.error) {
      code = body.error.code || "";
      message = body.error.message || "";
    } else if (body && body.detail) {
      message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
    if (!message) message = (xhr.responseText || xhr.statusText || "").slice(0, 500);
    const title = `${xhr.status}${xhr.statusText ? " " + xhr.statusText : ""}`;
    return { title: code ? `${title} · ${code}` : title, message: message || "Request failed." };
  }

  function handleResponse(xhr, seconds) {
    if (xhr.status < 200 || xhr.status >= 300) {
      setStatus("", 0);
      const { title, message } = apiError(xhr);
      showError(title, message);
      if (xhr.status === 401 || xhr.status === 403) showApiKeyField(true);
      return;
    }
    const body = parseJson(xhr.responseText);
    const outputs = body && extractOutputs(body);
    if (!outputs || !outputs.transcript) {
      setStatus("", 0);
      showError("Unexpected response", "The server's answer did not contain a transcript.");
      return;
    }
    setStatus(`Done in ${seconds} s.`, 100);
    renderTranscript(outputs.transcript);
    renderDownloads(outputs.files);
    // On narrow screens the transcript sits below the form: bring it into view.
    const top = el.transcriptCard.getBoundingClientRect().top;
    if (top > window.innerHeight * 0.75) el.transcriptCard.scrollIntoView({ block: "start" });
  }

  // `output=all` answers one JSON object holding every format: {json, txt, tsv, srt, vtt, ...}
  // (possibly under a wrapper key). The JSON format may be embedded as an object or a string.
  function extractOutputs(body) {
    let holder = body;
    for (const key of ["outputs", "formats", "results"]) {
      if (body[key] && typeof body[key] === "object" && !Array.isArray(body[key])) {
        holder = body[key];
        break;
      }
    }
    const files = [];
    let transcript = null;
    for (const format of FORMATS) {
      const value = holder[format.name];
      if (value === undefined || value === null) continue;
      let text;
      if (typeof value === "string") {
        text = value;
        if (format.name === "json") transcript = parseJson(value);
      } else {
        text = JSON.stringify(value) + "\n"; // the server writes compact JSON too
        if (format.name === "json") transcript = value;
      }
      files.push({ format, text });
    }
    if (!transcript && Array.isArray(body.segments)) transcript = body;
    return { transcript, files };
  }

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    transcribe();
  });
  el.cancel.addEventListener("click", () => {
    if (state.xhr) state.xhr.abort();
  });

  // ---------------------------------------------------------------- transcript

  function clearTranscript() {
    state.words = [];
    state.current = null;
    state.pinned = null;
    state.currentSegment = null;
    el.transcript.replaceChildren();
    el.transcript.hidden = true;
    el.liveFinals.replaceChildren();
    el.livePartial.textContent = "";
    el.live.hidden = true;
    el.speakers.replaceChildren();
    el.speakers.hidden = true;
    el.summary.hidden = true;
    el.empty.hidden = false;
    for (const url of state.downloadUrls) URL.revokeObjectURL(url);
    state.downloadUrls = [];
    el.downloadList.replaceChildren();
    el.downloads.hidden = true;
  }

  function speakerClass(speakers, label) {
    let index = speakers.indexOf(label);
    if (index < 0) {
      speakers.push(label);
      index = speakers.length - 1;
    }
    return `spk-${index % 8}`;
  }

  function speakerChip(speakers, label) {
    const chip = document.createElement("span");
    chip.className = `speaker ${speakerClass(speakers, label)}`;
    chip.textContent = label;
    return chip;
  }

  function renderTranscript(result) {
    clearTranscript();
    const segments = Array.isArray(result.segments) ? result.segments : [];
    const speakers = [];
    const words = [];
    const fragment = document.createDocumentFragment();

    segments.forEach((segment, segIndex) => {
      const item = document.createElement("li");
      item.className = "segment";
      item.dataset.start = segment.start;
      item.dataset.end = segment.end;

      const head = document.createElement("div");
      head.className = "segment-head";
      const stamp = document.createElement("button");
      stamp.type = "button";
      stamp.className = "timestamp";
      stamp.dataset.seek = segment.start;
      stamp.textContent = `${clock(segment.start, true)} – ${clock(segment.end, true)}`;
      stamp.setAttribute(
        "aria-label",
        `Play from ${clock(segment.start)}, segment ${segIndex + 1} of ${segments.length}`,
      );
      head.append(stamp);
      if (segment.speaker) head.append(speakerChip(speakers, segment.speaker));
      item.append(head);

      if (segment.speaker) item.classList.add(speakerClass(speakers, segment.speaker));
      const text = document.createElement("p");
      text.className = "segment-text";
      const segWords = Array.isArray(segment.words) ? segment.words : [];
      const timed = segWords.filter((w) => Number.isFinite(w.start) && Number.isFinite(w.end));
      if (timed.length) {
        segWords.forEach((word, i) => {
          const span = document.createElement("span");
          span.className = "word";
          span.textContent = String(word.word).trim();
          if (Number.isFinite(word.start) && Number.isFinite(word.end)) {
            span.dataset.start = word.start;
            span.dataset.end = word.end;
            span.dataset.seek = word.start;
            span.tabIndex = -1;
            span.title = `${clock(word.start, true)} – ${clock(word.end, true)}`;
            if (word.speaker && word.speaker !== segment.speaker) {
              span.classList.add("other-speaker", speakerClass(speakers, word.speaker));
              span.title += ` · ${word.speaker}`;
            }
            words.push({ start: word.start, end: word.end, el: span, segment: item });
          }
          text.append(span);
          if (i < segWords.length - 1) text.append(" ");
        });
      } else {
        // No word times (word_timestamps off): the whole segment is one clickable run.
        const span = document.createElement("span");
        span.className = "word";
        span.textContent = String(segment.text || "").trim();
        span.dataset.start = segment.start;
        span.dataset.end = segment.end;
        span.dataset.seek = segment.start;
        span.tabIndex = -1;
        words.push({ start: segment.start, end: segment.end, el: span, segment: item });
        text.append(span);
      }
      item.append(text);
      fragment.append(item);
    });

    words.sort((a, b) => a.start - b.start || a.end - b.end);
    words.forEach((w, i) => (w.el.dataset.index = String(i)));
    state.words = words;
    if (words.length) words[0].el.tabIndex = 0; // one tab stop; arrows move between words

    el.transcript.append(fragment);
    el.transcript.hidden = segments.length === 0;
    el.empty.hidden = segments.length !== 0;
    if (!segments.length) el.empty.textContent = "No speech was found in this recording.";

    const parts = [];
    if (result.language) {
      const probability = Number(result.language_probability);
      const sure = Number.isFinite(probability) ? ` (${Math.round(probability * 100)}%)` : "";
      parts.push(`Language: ${languageName(result.language)}${sure}`);
    }
    if (Number.isFinite(result.duration)) parts.push(`Duration: ${clock(result.duration)}`);
    parts.push(`${segments.length} segment${segments.length === 1 ? "" : "s"}`);
    parts.push(`${words.length} word${words.length === 1 ? "" : "s"}`);
    if (result.model && result.model.name) {
      parts.push(`Model: ${String(result.model.name).split(/[\\/]/).filter(Boolean).pop()}`);
    }
    el.summary.textContent = parts.join(" · ");
    el.summary.hidden = false;

    if (speakers.length) {
      for (const label of speakers) {
        const li = document.createElement("li");
        li.append(speakerChip(speakers, label));
        el.speakers.append(li);
      }
      el.speakers.hidden = false;
    }
    highlight();
  }

  function renderDownloads(files, baseName) {
    const base =
      baseName ||
      (state.file && state.file.name ? state.file.name : "transcript").replace(/\.[^./\\]+$/, "");
    for (const { format, text } of files) {
      const blob = new Blob([text], { type: format.type });
      const url = URL.createObjectURL(blob);
      state.downloadUrls.push(url);
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.className = "button secondary download";
      link.href = url;
      link.download = `${base}.${format.name}`;
      link.dataset.format = format.name;
      link.textContent = format.label;
      link.title = `${link.download} · ${format.what} · ${bytes(blob.size)}`;
      link.setAttribute("aria-label", `Download ${format.label} (${format.what})`);
      li.append(link);
      el.downloadList.append(li);
    }
    el.downloads.hidden = files.length === 0;
  }

  // ---------------------------------------------------------------- playback highlight

  // The word whose [start, end] holds t: the last word starting at or before t, if it
  // has not ended yet.
  function wordAt(t) {
    const words = state.words;
    let lo = 0;
    let hi = words.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (words[mid].start <= t) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return null;
    return t <= words[found].end ? words[found] : null;
  }

  function highlight() {
    const t = el.player.currentTime;
    const pinned = state.pinned;
    if (pinned && !(pinned.start <= t && t <= pinned.end)) state.pinned = null;
    const word = state.pinned || (state.words.length ? wordAt(t) : null);
    if (word === state.current) return;
    if (state.current) {
      state.current.el.classList.remove("current");
      state.current.el.removeAttribute("aria-current");
    }
    state.current = word;
    const segment = word ? word.segment : null;
    if (segment !== state.currentSegment) {
      if (state.currentSegment) state.currentSegment.classList.remove("current");
      if (segment) segment.classList.add("current");
      state.currentSegment = segment;
    }
    if (word) {
      word.el.classList.add("current");
      word.el.setAttribute("aria-current", "true");
      if (!el.player.paused) word.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function tick() {
    highlight();
    state.raf = el.player.paused ? 0 : requestAnimationFrame(tick);
  }

  el.player.addEventListener("timeupdate", highlight);
  el.player.addEventListener("seeked", highlight);
  el.player.addEventListener("play", () => {
    if (!state.raf) state.raf = requestAnimationFrame(tick);
  });
  el.player.addEventListener("emptied", highlight);
  el.player.addEventListener("error", () => {
    if (el.player.getAttribute("src")) el.playerNote.hidden = false;
  });
  el.player.addEventListener("loadedmetadata", () => (el.playerNote.hidden = true));

  function seek(seconds, word) {
    const t = Number(seconds);
    if (!Number.isFinite(t) || !el.player.src) return;
    state.pinned = word || null;
    el.player.currentTime = t;
    highlight();
  }

  function wordOf(target) {
    const index = target.dataset.index;
    return index === undefined ? null : state.words[Number(index)] || null;
  }

  function focusWord(index) {
    const word = state.words[index];
    if (!word) return;
    for (const w of state.words) w.el.tabIndex = -1;
    word.el.tabIndex = 0;
    word.el.focus();
  }

  el.transcript.addEventListener("click", (event) => {
    const target = event.target.closest("[data-seek]");
    if (!target) return;
    seek(target.dataset.seek, wordOf(target));
    if (target.classList.contains("word")) focusWord(Number(target.dataset.index));
  });

  el.transcript.addEventListener("keydown", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLElement) || !target.classList.contains("word")) return;
    const index = Number(target.dataset.index);
    const moves = {
      ArrowRight: index + 1,
      ArrowDown: index + 1,
      ArrowLeft: index - 1,
      ArrowUp: index - 1,
      Home: 0,
      End: state.words.length - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      focusWord(Math.max(0, Math.min(state.words.length - 1, moves[event.key])));
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      seek(target.dataset.seek, wordOf(target));
      if (event.key === " " && el.player.paused) el.player.play().catch(() => {});
    }
  });

  // ---------------------------------------------------------------- start

  try {
    el.apiKey.value = sessionStorage.getItem(KEY_STORAGE) || "";
    if (el.apiKey.value) showApiKeyField(false);
  } catch (_) {
    /* storage disabled */
  }
  applyUrlParams();
  loadConfig().then(() => {
    const lang = new URLSearchParams(location.search).get("language");
    if (lang) el.language.value = lang;
    document.body.dataset.ready = "true";
  });
  updateButtons();
})();

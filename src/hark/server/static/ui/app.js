// Hark web page: upload or record audio, POST it to /asr?output=all, show the transcript
// with speakers and word timestamps, highlight the word being played, offer every format.
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
    el.submit.disabled = busy || !state.file || Boolean(state.recorder);
    el.cancel.hidden = !busy;
    el.recordButton.disabled = busy;
    el.fileInput.disabled = busy;
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

  function renderDownloads(files) {
    const base = (state.file && state.file.name ? state.file.name : "transcript").replace(
      /\.[^./\\]+$/,
      "",
    );
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

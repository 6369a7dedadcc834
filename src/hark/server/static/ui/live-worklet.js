// Hark Live mode: the microphone as PCM16 mono chunks, in the audio rendering thread.
// The AudioContext runs at the rate the server is told (16 kHz where the browser allows it,
// so the browser resamples); each chunk (~100 ms) goes to the page as a transferred buffer.
"use strict";

class HarkPcm16Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const chunk = (options && options.processorOptions && options.processorOptions.chunk) || 1600;
    this.buffer = new Int16Array(chunk);
    this.filled = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") this.flush();
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const count = channels.length;
      const frames = channels[0].length;
      for (let i = 0; i < frames; i++) {
        let sample = 0;
        for (let c = 0; c < count; c++) sample += channels[c][i];
        sample = Math.max(-1, Math.min(1, sample / count)); // down-mix, then clip
        this.buffer[this.filled++] = sample < 0 ? sample * 0x8000 : sample * 0x7fff;
        if (this.filled === this.buffer.length) this.flush();
      }
    }
    return true; // keep running while the microphone is connected
  }

  flush() {
    if (!this.filled) return;
    const out = this.buffer.slice(0, this.filled);
    this.filled = 0;
    this.port.postMessage(out.buffer, [out.buffer]);
  }
}

registerProcessor("hark-pcm16", HarkPcm16Capture);

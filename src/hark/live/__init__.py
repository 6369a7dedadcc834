"""Live transcription: captions while people speak (issue #16, docs/live.md).

The pieces, one concern each, I/O-free except where named:
- `words`: a timed word and the text guards (duplicates at commits, repetition loops);
- `policy`: LocalAgreement-2, which words of successive hypotheses are committed;
- `buffer`: the rolling audio buffer (bounded; committed audio is dropped);
- `endpoint`: streaming Silero probabilities and the speech start / pause decisions;
- `timing`: where words and windows sit in the audio (pure functions);
- `session`: one stream: audio in, partials and finals out (decoding injected);
- `events`: the decoder a session is given and the events it returns;
- `windows`: the one place where a live window meets the model;
- `pcm`, `container`: client bytes to 16 kHz float32 (raw PCM16, or WebM/Ogg through PyAV);
- `speakers`: incremental speaker labels for finals (`diarize=true`);
- `registry`: the stream limit and the finished sessions' transcripts.
The WebSocket routes are `hark.server.routes.live` (native) and `.realtime` (OpenAI).
"""

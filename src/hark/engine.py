"""The engine: one object that owns the models, the scheduler and admission.

Every surface (Python API, CLI, HTTP, jobs, RunPod, live streams) submits work here and awaits
the result; nothing calls back up. A request goes

    admission.enter -> pipeline.load_audio -> pipeline.prepare (VAD, language)
      -> scheduler.decode (shared ASR batches) -> pipeline.finish (alignment, sentences)
      -> pipeline.diarize (speakers)

in the caller's thread, except the ASR batches, which the scheduler's workers run for every
request at once. Live streams call `decode_window`, which skips admission (streams have their
own limit) and goes ahead of file chunks in the batches.

    engine = hark.load_engine("small")
    transcript = engine.transcribe("call.wav", language="en")   # from any thread
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from hark.admission import Admission, AdmissionCancelled, AdmissionStats
from hark.asr import WINDOW_FRAMES, ChunkResult
from hark.audio import SAMPLE_RATE
from hark.language import LanguageResult
from hark.options import TranscribeOptions
from hark.pipeline import (
    AudioInput,
    Pipeline,
    PreparedAudio,
    Progress,
    ProgressCallback,
    load_pipeline,
    merge_options,
)
from hark.scheduler import CancelledError, Priority, Scheduler, SchedulerStats
from hark.schema import Transcript
from hark.vad import SpeechChunk

__all__ = ["Engine", "load_engine"]


def _no_progress(_: Progress) -> None:
    pass


class Engine:
    """Runs requests on one pipeline: admission, then the stages, with the ASR stage shared.

    Args:
      pipeline: the loaded models and the stages.
      max_requests: requests run at once (each holds a slot from decoding to speakers).
      queue_size: requests that may wait for a slot; beyond, QueueFullError (HTTP 503).
      job_slots: jobs run at once, in a lane of their own (0: none); jobs wait for a slot
        however long (the job workers bound how many wait).
      workers, batch_size, batch_wait_s, overlap_features: the scheduler's (`Scheduler`).
      on_admission: called with the running/waiting counts whenever they change (metrics).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        max_requests: int = 4,
        queue_size: int = 64,
        workers: int = 1,
        batch_size: int | None = None,
        batch_wait_s: float = 0.25,
        overlap_features: bool | None = None,
        job_slots: int = 0,
        on_admission: Callable[[str, AdmissionStats], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        lanes: dict[str, tuple[int, int | None]] = {"requests": (max_requests, queue_size)}
        if job_slots:
            lanes["jobs"] = (job_slots, None)
        self.admission = Admission(lanes, on_change=on_admission)
        self.scheduler = Scheduler(
            pipeline.asr,
            workers=workers,
            batch_size=batch_size,
            batch_wait_s=batch_wait_s,
            overlap_features=overlap_features,
        )

    @property
    def model_info(self) -> Any:
        return self.pipeline.model_info

    # -- requests ----------------------------------------------------------------------------

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions | None = None,
        *,
        speakers: Mapping[str, AudioInput] | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        lane: str = "requests",
        **overrides: Any,
    ) -> Transcript:
        """Transcribe one file (path, bytes, file object, or 16 kHz mono float32 array).

        `overrides` are `TranscribeOptions` fields, e.g. `language="en", beam_size=1`.
        `speakers` maps names to reference recordings: matching speakers get those names.
        Thread-safe: call it from as many threads as you like; their chunks share batches.
        Raises QueueFullError when every slot of its admission `lane` is taken and the waiting
        room is full, and CancelledError once `cancel` is set (checked at every stage and
        between batches).
        """
        options = merge_options(options, overrides)
        given = progress or _no_progress
        report = _checked(given, cancel)
        with self._admitted(cancel, lane):
            if options.channels == "separate":
                return self._transcribe_channels(audio, options, report, given, cancel)
            with self.scheduler.preparing():
                samples = self.pipeline.load_audio(audio, options)
                prepared = self.pipeline.prepare(samples, options, report)
            transcript = self._finish(prepared, report, given, cancel)
            if options.diarize:
                transcript = self.pipeline.diarize(transcript, samples, options, speakers, report)
        _raise_if_cancelled(cancel)
        return transcript

    def detect_language(
        self,
        audio: AudioInput,
        options: TranscribeOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **overrides: Any,
    ) -> LanguageResult | None:
        """Spoken language of a file (None when it holds no speech); admitted like a request."""
        options = merge_options(options, overrides)
        report = _checked(progress or _no_progress, cancel)
        with self._admitted(cancel):
            samples = self.pipeline.load_audio(audio, options)
            return self.pipeline.detect_language(samples, options, report)

    def decode_window(
        self,
        samples: np.ndarray,
        options: TranscribeOptions,
        *,
        language: str | None,
        prompt: str | None,
        cancel: threading.Event | None = None,
        encoder_pad_s: float | None = None,
        priority: Priority = "live",
    ) -> ChunkResult:
        """Decode one <=30 s window of 16 kHz mono audio for a live stream, in the next batch,
        ahead of file chunks and batched with other streams' windows. `prompt`: the stream's
        committed text so far, after the options' own `initial_prompt`; the stream's text is
        cut to its most recent `PROMPT_BUCKETS` tokens, so that streams whose texts differ
        share a batch. `encoder_pad_s`: encode the window with this much padding (whole
        seconds, `WhisperASR.encoder_frames`) instead of as a 30 s input. `priority`: "final"
        for a window whose words become final at once (served before other live windows).
        Word times are seconds from the window's start."""
        asr = self.pipeline.asr
        own = asr.prompt_tokens(options.initial_prompt)
        tokens = (own + asr.prompt_tokens(prompt, bucketed=True))[-asr.max_prompt_tokens :]
        chunk = SpeechChunk(0.0, samples.size / SAMPLE_RATE)
        prepared = PreparedAudio(
            samples,
            [chunk],
            LanguageResult(language, 1.0, []) if language else None,
            options,
            replace(options.decode(), initial_prompt=None),
        )
        frames = (
            asr.encoder_frames(chunk.duration, encoder_pad_s)
            if encoder_pad_s is not None
            else WINDOW_FRAMES
        )
        results = self.scheduler.decode(
            prepared, cancel=cancel, priority=priority, prompt=tokens, frames=frames
        )
        return results[0]

    # -- lifecycle ------------------------------------------------------------------------------

    def stats(self) -> tuple[dict[str, AdmissionStats], SchedulerStats]:
        lanes = {name: lane.stats() for name, lane in self.admission.lanes.items()}
        return lanes, self.scheduler.stats()

    def close(self, timeout: float | None = None) -> None:
        """Refuse new requests, let the admitted ones finish, stop the scheduler."""
        self.admission.close()
        self.scheduler.close(timeout)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _admitted(self, cancel: threading.Event | None, lane: str = "requests") -> Iterator[None]:
        try:
            slot = self.admission.enter(lane, cancel)
            slot.__enter__()
        except AdmissionCancelled:
            raise CancelledError("the request was cancelled") from None
        try:
            yield
        finally:
            slot.__exit__(None, None, None)

    def _finish(
        self,
        prepared: PreparedAudio,
        report: ProgressCallback,
        given: ProgressCallback,
        cancel: threading.Event | None,
    ) -> Transcript:
        # The scheduler's threads report ASR progress with the caller's own callback (`given`);
        # a cancel is noticed by `decode`'s wait, not by raising in their thread.
        results = self.scheduler.decode(prepared, given, cancel)
        return self.pipeline.finish(prepared, results, report)

    def _transcribe_channels(
        self,
        audio: AudioInput,
        options: TranscribeOptions,
        report: ProgressCallback,
        given: ProgressCallback,
        cancel: threading.Event | None,
    ) -> Transcript:
        with self.scheduler.preparing():
            channels = self.pipeline.load_audio(audio, options)
        mono = options.model_copy(update={"channels": "mix", "diarize": False})
        parts = []
        for samples in channels:
            with self.scheduler.preparing():
                prepared = self.pipeline.prepare(samples, mono, report)
            parts.append(self._finish(prepared, report, given, cancel))
        return self.pipeline.merge_channels(parts, channels.shape[1] / SAMPLE_RATE, options)


def _checked(report: ProgressCallback, cancel: threading.Event | None) -> ProgressCallback:
    """The caller's progress callback, raising CancelledError at every stage boundary once
    `cancel` is set (so a cancelled request stops at the next stage, not only between
    batches)."""
    if cancel is None:
        return report

    def checked(p: Progress) -> None:
        report(p)  # first: the caller may raise its own, more telling error (a deadline)
        _raise_if_cancelled(cancel)

    return checked


def _raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("the request was cancelled")


def load_engine(
    model: str | os.PathLike[str] = "small",
    *,
    max_requests: int = 4,
    queue_size: int = 64,
    batch_size: int | None = None,
    **pipeline_kwargs: Any,
) -> Engine:
    """Load the models once (see `load_pipeline` for the arguments) and return the engine that
    runs requests on them; `num_workers` also sets the scheduler's decode threads."""
    pipeline = load_pipeline(model, **pipeline_kwargs)
    return Engine(
        pipeline,
        max_requests=max_requests,
        queue_size=queue_size,
        workers=pipeline_kwargs.get("num_workers", 1),
        batch_size=batch_size,
    )

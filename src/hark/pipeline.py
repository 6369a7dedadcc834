"""The one object that does the work: audio -> VAD chunks -> batched Whisper -> Transcript.

CLI, HTTP, jobs and the RunPod worker are thin adapters over `Pipeline.transcribe`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from hark.asr import ChunkResult, WhisperASR
from hark.audio import SAMPLE_RATE, load_audio
from hark.models import resolve_whisper_model
from hark.options import AUTO_PER_CHUNK, TranscribeOptions
from hark.schema import LanguageCandidate, ModelInfo, Segment, Transcript, Word
from hark.segmentation import split_sentences
from hark.vad import SpeechChunk, detect_speech

logger = logging.getLogger(__name__)

AudioInput = str | os.PathLike[str] | bytes | BinaryIO | np.ndarray


@dataclass(frozen=True)
class Progress:
    """A progress report: `done` of `total` units of `stage` (seconds of audio for "asr")."""

    stage: str
    done: float
    total: float


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class LanguageResult:
    language: str
    probability: float
    candidates: list[LanguageCandidate]


class Pipeline:
    """A loaded transcription pipeline. Thread-safe: one instance serves many requests."""

    def __init__(
        self, asr: WhisperASR, *, model_name: str, model_path: str, load_seconds: float = 0.0
    ) -> None:
        self.asr = asr
        self.model_info = ModelInfo(
            name=model_name, path=model_path, device=asr.device, compute_type=asr.compute_type
        )
        self.load_seconds = load_seconds

    @property
    def default_batch_size(self) -> int:
        return 16 if self.asr.device == "cuda" else 8

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        **overrides: Any,
    ) -> Transcript:
        """Transcribe one file (path, bytes, file object, or 16 kHz mono float32 array).

        `overrides` are `TranscribeOptions` fields, e.g. `language="en", beam_size=1`.
        """
        options = _merge(options, overrides)
        report = progress or (lambda _p: None)
        samples = load_audio(audio, max_duration=options.max_duration)
        duration = samples.size / SAMPLE_RATE
        report(Progress("vad", 0, duration))
        chunks = detect_speech(samples, options.vad())
        report(Progress("vad", duration, duration))

        language: LanguageResult | None = None
        per_chunk = options.language == AUTO_PER_CHUNK
        if options.language and not per_chunk:
            language = LanguageResult(options.language, 1.0, [])
        elif chunks and not per_chunk:
            language = self._detect(samples, chunks, options.language_detection_chunks)

        results = self._decode(samples, chunks, language, options, duration, report)
        segments = _segments(results, per_chunk)
        if per_chunk and segments:
            language = _majority_language(results)
        return Transcript(
            segments=segments,
            language=language.language if language else None,
            language_probability=language.probability if language else None,
            language_candidates=language.candidates if language else [],
            duration=duration,
            task=options.task,
            alignment="whisper" if any(s.words for s in segments) else None,
            model=self.model_info,
        )

    def detect_language(
        self, audio: AudioInput, options: TranscribeOptions | None = None, **overrides: Any
    ) -> LanguageResult | None:
        """Spoken language of a file, from up to `language_detection_chunks` speech chunks.
        None when the file holds no speech."""
        options = _merge(options, overrides)
        samples = load_audio(audio, max_duration=options.max_duration)
        chunks = detect_speech(samples, options.vad())
        if not chunks:
            return None
        return self._detect(samples, chunks, options.language_detection_chunks)

    def _detect(
        self, samples: np.ndarray, chunks: Sequence[SpeechChunk], max_chunks: int
    ) -> LanguageResult:
        # Spread the sample over the file: its first 30 s may be music, silence or an intro.
        picks = np.unique(np.linspace(0, len(chunks) - 1, min(max_chunks, len(chunks))).round())
        chosen = [chunks[int(i)] for i in picks]
        probs = self.asr.language_probabilities(self.asr.encode(self.asr.features(samples, chosen)))
        # Weight each chunk by its amount of speech, so a short cough counts for little.
        weights = np.array([sum(e - s for s, e in c.regions) for c in chosen]) + 1e-6
        totals: dict[str, float] = {}
        for weight, chunk_probs in zip(weights / weights.sum(), probs, strict=True):
            for lang, p in chunk_probs.items():
                totals[lang] = totals.get(lang, 0.0) + float(weight) * p
        ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
        return LanguageResult(
            language=ranked[0][0],
            probability=round(ranked[0][1], 4),
            candidates=[
                LanguageCandidate(language=k, probability=round(v, 4)) for k, v in ranked[:5]
            ],
        )

    def _decode(
        self,
        samples: np.ndarray,
        chunks: list[SpeechChunk],
        language: LanguageResult | None,
        options: TranscribeOptions,
        duration: float,
        report: ProgressCallback,
    ) -> list[ChunkResult]:
        batch_size = options.batch_size or self.default_batch_size
        decode = options.decode()
        results: list[ChunkResult] = []
        report(Progress("asr", 0.0, duration))
        for i in range(0, len(chunks), batch_size):
            batch = chunks[i : i + batch_size]
            languages = [language.language] * len(batch) if language else None
            results.extend(self.asr.transcribe_batch(samples, batch, languages, decode))
            report(
                Progress(
                    "asr", batch[-1].end if i + batch_size < len(chunks) else duration, duration
                )
            )
        return results


def load_pipeline(
    model: str | os.PathLike[str] = "small",
    *,
    device: str = "auto",
    device_index: int | list[int] = 0,
    compute_type: str = "default",
    cpu_threads: int = 0,
    num_workers: int = 1,
    download_root: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    revision: str | None = None,
) -> Pipeline:
    """Load the models once; then call `transcribe` as often as needed.

    Args:
      model: a name (tiny, base, small, medium, large-v2, large-v3, large-v3-turbo, distil-...),
        a Hugging Face repo id of a CTranslate2 Whisper model, or a local model directory.
      device: "auto", "cpu" or "cuda"; device_index selects the GPU(s).
      compute_type: CTranslate2 type: default, int8, int8_float16, float16, bfloat16, float32.
      cpu_threads: threads per CPU decode (0: all cores available to the process).
      num_workers: concurrent decodes allowed (for servers handling parallel requests).
      download_root: model cache directory (default: the Hugging Face cache).
      local_files_only: never download; fail with instructions when the model is missing.
    """
    started = time.perf_counter()
    path = resolve_whisper_model(
        model, download_root=download_root, local_files_only=local_files_only, revision=revision
    )
    asr = WhisperASR(
        path,
        device=device,
        device_index=device_index,
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        num_workers=num_workers,
    )
    return Pipeline(
        asr, model_name=str(model), model_path=str(path), load_seconds=time.perf_counter() - started
    )


def _merge(options: TranscribeOptions | None, overrides: dict[str, Any]) -> TranscribeOptions:
    if options is None:
        return TranscribeOptions(**overrides)
    if not overrides:
        return options
    return TranscribeOptions(**{**options.model_dump(), **overrides})


def _segments(results: list[ChunkResult], per_chunk_language: bool) -> list[Segment]:
    segments: list[Segment] = []
    for r in results:
        if not r.text.strip():
            continue
        fields: dict[str, Any] = {
            "avg_logprob": round(r.avg_logprob, 4),
            "no_speech_prob": round(r.no_speech_prob, 4),
            "compression_ratio": round(r.compression_ratio, 4),
            "temperature": r.temperature,
        }
        if per_chunk_language:
            fields["language"] = r.language
        words = [
            Word(
                word=w["word"].strip(),
                start=w["start"],
                end=w["end"],
                score=min(1.0, max(0.0, w["probability"])),
            )
            for w in r.words
        ]
        if words:
            segments.extend(split_sentences(words, **fields))
        else:
            segments.append(
                Segment(start=r.chunk.start, end=r.chunk.end, text=r.text.strip(), **fields)
            )
    return segments


def _majority_language(results: list[ChunkResult]) -> LanguageResult:
    spoken: dict[str, float] = {}
    for r in results:
        if r.text.strip():
            spoken[r.language] = spoken.get(r.language, 0.0) + r.chunk.duration
    if not spoken:
        return LanguageResult(results[0].language, 0.0, [])
    total = sum(spoken.values())
    ranked = sorted(spoken.items(), key=lambda kv: kv[1], reverse=True)
    return LanguageResult(
        ranked[0][0],
        round(ranked[0][1] / total, 4),
        [LanguageCandidate(language=k, probability=round(v / total, 4)) for k, v in ranked],
    )

"""The loaded models and the stages of a request: audio -> VAD chunks -> (ASR) -> Transcript.

The stages are `load_audio`, `prepare` (VAD, language), `finish` (alignment, sentences) and
`diarize` (speakers); the ASR batches between `prepare` and `finish` belong to
`hark.scheduler`. `hark.engine.Engine` drives them for every surface; nothing here calls out.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from hark.asr import ChunkResult, DecodeOptions, WhisperASR
from hark.audio import SAMPLE_RATE, load_audio
from hark.language import LanguageResult, detect_language, majority_language
from hark.lazy_models import LazyModels
from hark.model_files import offline_mode, resolve_whisper_model
from hark.options import AUTO_PER_CHUNK, TranscribeOptions
from hark.postprocess import (
    align_segments,
    chunk_segments,
    renumber_speakers,
    sentence_segments,
)
from hark.schema import ModelInfo, SpeakerTurn, Transcript
from hark.silero import SileroConfig, SileroVad
from hark.vad import SpeechChunk, detect_speech, speech_probabilities

logger = logging.getLogger(__name__)

AudioInput = str | os.PathLike[str] | bytes | BinaryIO | np.ndarray


@dataclass(frozen=True)
class Progress:
    """A progress report: `done` of `total` units of `stage` (seconds of audio for "asr")."""

    stage: str
    done: float
    total: float


ProgressCallback = Callable[[Progress], None]


def _no_progress(_: Progress) -> None:
    pass


@dataclass
class PreparedAudio:
    """One (mono) audio after VAD and language detection, ready for the ASR batches."""

    samples: np.ndarray
    chunks: list[SpeechChunk]
    language: LanguageResult | None
    options: TranscribeOptions
    decode: DecodeOptions
    encoded: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    """Encoder outputs language detection computed (CPU), by chunk index, until decoded."""

    def take_encoded(self, indices: range | list[int]) -> list[np.ndarray | None]:
        """The kept encoder outputs of these chunks (None where there is none), released."""
        return [self.encoded.pop(i, None) for i in indices]

    @property
    def duration(self) -> float:
        return self.samples.size / SAMPLE_RATE

    @property
    def per_chunk_language(self) -> bool:
        return self.options.language == AUTO_PER_CHUNK

    def chunk_languages(self) -> list[str | None]:
        """The language of each chunk; None where it is detected per chunk."""
        return [self.language.language if self.language else None] * len(self.chunks)


class Pipeline:
    """A loaded transcription pipeline. Thread-safe: one instance serves many requests."""

    def __init__(
        self,
        asr: WhisperASR,
        *,
        model_name: str,
        model_path: str,
        load_seconds: float = 0.0,
        download_root: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        cpu_threads: int = 0,
        align_compute_type: str = "auto",
        model_idle_unload_s: float | None = None,
        vad: SileroVad | None = None,
    ) -> None:
        from hark.align import AlignError
        from hark.align.registry import check_align_compute_type
        from hark.diarize import DiarizationError

        self.asr = asr
        self.model_info = ModelInfo(
            name=model_name,
            path=model_path,
            device=asr.device,
            compute_type=asr.compute_type,
            requested_compute_type=asr.requested_compute_type,
        )
        self.load_seconds = load_seconds
        # The pipeline's own VAD session: its threads (or the GPU), shared by every request.
        self.vad = vad or SileroVad(SileroConfig(threads=cpu_threads), device=asr.device)
        self._model_kwargs: dict[str, Any] = dict(
            cache_dir=str(download_root) if download_root else None,
            local_files_only=local_files_only or offline_mode(),
            cpu_threads=cpu_threads,
        )
        self.align_compute_type = check_align_compute_type(align_compute_type)
        idle = model_idle_unload_s
        self.aligners = LazyModels(self._load_aligner, (AlignError,), idle_unload_s=idle)
        self.diarizers = LazyModels(self._load_diarizer, (DiarizationError,), idle_unload_s=idle)

    # -- stages -----------------------------------------------------------------------------

    def load_audio(self, audio: AudioInput, options: TranscribeOptions) -> np.ndarray:
        """16 kHz float32: mono (N,), or (channels, N) when `options.channels == "separate"`."""
        if options.channels == "separate":
            return load_audio(audio, max_duration=options.max_duration, channels="separate")
        return load_audio(audio, max_duration=options.max_duration)

    def merge_channels(
        self, parts: list[Transcript], duration: float, options: TranscribeOptions
    ) -> Transcript:
        """One transcript of a file whose channels were transcribed apart (one speaker each)."""
        from hark.diarize import merge_channel_transcripts

        merged = merge_channel_transcripts(parts)
        best = max(parts, key=lambda t: len(t.word_segments))
        return merged.model_copy(
            update={
                "duration": duration,
                "task": options.task,
                "language": best.language,
                "language_probability": best.language_probability,
                "language_candidates": best.language_candidates,
                "alignment": best.alignment,
                "model": self.model_info,
            }
        )

    def prepare(
        self,
        samples: np.ndarray,
        options: TranscribeOptions,
        report: ProgressCallback = _no_progress,
    ) -> PreparedAudio:
        """VAD and language detection."""
        duration = samples.size / SAMPLE_RATE
        report(Progress("vad", 0, duration))
        chunks = detect_speech(samples, options.vad(), speech_probabilities(samples, self.vad))
        report(Progress("vad", duration, duration))
        language: LanguageResult | None = None
        encoded: dict[int, np.ndarray] = {}
        if options.language and options.language != AUTO_PER_CHUNK:
            language = LanguageResult(options.language, 1.0, [])
        elif chunks and options.language != AUTO_PER_CHUNK:
            language = detect_language(
                self.asr, samples, chunks, options.language_detection_chunks, keep=encoded
            )
        return PreparedAudio(samples, chunks, language, options, options.decode(), encoded)

    def finish(
        self,
        prepared: PreparedAudio,
        results: list[ChunkResult],
        report: ProgressCallback = _no_progress,
    ) -> Transcript:
        """Alignment and sentence segments."""
        options, language = prepared.options, prepared.language
        segments = chunk_segments(results, prepared.per_chunk_language)
        if prepared.per_chunk_language and segments:
            language = majority_language(results)
        method = "whisper" if any(s.words for s in segments) else None
        if options.align and options.word_timestamps and segments:
            report(Progress("align", 0, len(segments)))
            segments, method = align_segments(
                segments,
                prepared.samples,
                language.language if language else None,
                lambda lang: self.aligners.get(
                    (lang, options.align_model), lang, options.align_model
                ),
                return_char_alignments=options.return_char_alignments,
                interpolate_method=options.interpolate_method,
            )
            report(Progress("align", len(segments), len(segments)))
        return Transcript(
            segments=sentence_segments(segments),
            language=language.language if language else None,
            language_probability=language.probability if language else None,
            language_candidates=language.candidates if language else [],
            duration=prepared.duration,
            task=options.task,
            alignment=method,
            model=self.model_info,
        )

    def diarize(
        self,
        transcript: Transcript,
        samples: np.ndarray,
        options: TranscribeOptions,
        speakers: Mapping[str, AudioInput] | None = None,
        report: ProgressCallback = _no_progress,
    ) -> Transcript:
        """Speakers for every word (segments that change speaker are split), and the
        diarizer's own turns in `speaker_turns`."""
        from hark.diarize import assign_speakers

        report(Progress("diarize", 0, transcript.duration))
        diarizer = self.diarizers.get(
            (options.embedding_model, options.diarize_model),
            options.embedding_model,
            options.diarize_model,
        )
        known = {name: load_audio(a) for name, a in (speakers or {}).items()}
        diarization = diarizer(
            samples,
            num_speakers=options.num_speakers,
            min_speakers=options.min_speakers,
            max_speakers=options.max_speakers,
            known_speakers=known or None,
            return_embeddings=options.return_speaker_embeddings,
        )
        result = assign_speakers(transcript, diarization, fill_nearest=options.fill_nearest)
        report(Progress("diarize", transcript.duration, transcript.duration))
        turns = [
            SpeakerTurn(start=t.start, end=t.end, speaker=t.speaker) for t in diarization.turns
        ]
        return renumber_speakers(
            result.model_copy(
                update={"speaker_embeddings": diarization.embeddings, "speaker_turns": turns}
            )
        )

    # -- language -------------------------------------------------------------------------

    def detect_language(
        self,
        samples: np.ndarray,
        options: TranscribeOptions,
        report: ProgressCallback = _no_progress,
    ) -> LanguageResult | None:
        """Spoken language of 16 kHz mono audio, from up to `language_detection_chunks` speech
        chunks. None when it holds no speech. `report` hears each stage begin (a caller stops
        the work by raising from it)."""
        duration = len(samples) / SAMPLE_RATE
        report(Progress("vad", 0, duration))
        chunks = detect_speech(samples, options.vad(), speech_probabilities(samples, self.vad))
        if not chunks:
            return None
        report(Progress("language", 0, len(chunks)))
        return detect_language(self.asr, samples, chunks, options.language_detection_chunks)

    # -- lazily loaded models ---------------------------------------------------------------

    def _load_aligner(self, language: str, model: str | None) -> Any:
        from hark.align import load_align_model

        return load_align_model(
            language,
            model,
            device=self.asr.device,
            compute_type=self.align_compute_type,
            **self._model_kwargs,
        )

    def _load_diarizer(self, embedding_model: str | None, segmentation_model: str | None) -> Any:
        from hark.diarize import Diarizer

        return Diarizer.load(
            embedding_model, segmentation_model, device=self.asr.device, **self._model_kwargs
        )


def load_pipeline(
    model: str | os.PathLike[str] = "small",
    *,
    device: str = "auto",
    device_index: int | list[int] = 0,
    compute_type: str = "default",
    cpu_threads: int = 0,
    num_workers: int = 1,
    align_compute_type: str = "auto",
    download_root: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    revision: str | None = None,
    model_idle_unload_s: float | None = None,
    vad_threads: int = 0,
) -> Pipeline:
    """Load the Whisper model (aligners and speaker models load on first use): the stages
    that `hark.engine.Engine` runs requests through (`hark.load_engine` does both).

    Args:
      model: a name (tiny, base, small, medium, large-v2, large-v3, large-v3-turbo, distil-...),
        a Hugging Face repo id of a CTranslate2 Whisper model, or a local model directory.
      device: "auto", "cpu" or "cuda"; device_index selects the GPU(s).
      compute_type: CTranslate2 type: "default" (int8 on CPU, float16 on CUDA), int8,
        int8_float16, float16, bfloat16, float32, or "auto" (CTranslate2's fastest).
      cpu_threads: threads per CPU decode (0: all cores available to the process).
      num_workers: concurrent decodes allowed (for servers handling parallel requests).
      align_compute_type: aligner network: "auto" (its int8 copy on CPU, float on GPU),
        "float32" or "int8".
      download_root: model cache directory (default: the Hugging Face cache).
      local_files_only: never download; fail with instructions when a model is missing.
      model_idle_unload_s: unload an aligner or speaker model unused for this long (None: keep).
      vad_threads: threads of the Silero VAD session on CPU (0: cpu_threads, or every core).

    Aligners and speaker models load on first use; each has its own lock, so loading one never
    waits for another.
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
        asr,
        model_name=str(model),
        model_path=str(path),
        load_seconds=time.perf_counter() - started,
        download_root=download_root,
        local_files_only=local_files_only,
        cpu_threads=cpu_threads,
        align_compute_type=align_compute_type,
        model_idle_unload_s=model_idle_unload_s,
        vad=SileroVad(
            SileroConfig(threads=vad_threads or cpu_threads),
            device=asr.device,
            device_index=device_index if isinstance(device_index, int) else device_index[0],
        ),
    )


def merge_options(
    options: TranscribeOptions | None, overrides: dict[str, Any]
) -> TranscribeOptions:
    if options is None:
        return TranscribeOptions(**overrides)
    if not overrides:
        return options
    return TranscribeOptions(**{**options.model_dump(), **overrides})

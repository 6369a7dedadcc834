"""What Whisper is asked to do for each chunk, what it returns, and when to try again.

The fallback rules follow openai-whisper: a result that is too repetitive (gzip compression
ratio) or too unlikely (average log-probability) is decoded again at the next temperature,
unless the chunk looks like silence (high no-speech probability), which is dropped instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hark.vad import SpeechChunk

Task = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class DecodeOptions:
    """Whisper decoding options (the names follow openai-whisper / faster-whisper).

    Attributes:
      task: "transcribe", or "translate" into English.
      beam_size: beam width at temperature 0 (1 = greedy).
      best_of: number of sampled candidates at temperatures above 0.
      patience: beam search patience factor.
      length_penalty: exponential length penalty in beam search.
      repetition_penalty: > 1 penalises tokens already generated.
      no_repeat_ngram_size: forbid repeating n-grams of this size (0 = off).
      temperatures: tried in order for a chunk until its result passes the thresholds below.
      compression_ratio_threshold: gzip ratio above which a result counts as repetitive.
      log_prob_threshold: average log-probability below which a result counts as failed.
      no_speech_threshold: a chunk whose no-speech probability is above this and whose result
        failed `log_prob_threshold` is treated as silence and dropped.
      initial_prompt: text given to the decoder as previous context (spelling, names, style).
      hotwords: words to bias the decoder towards.
      suppress_tokens: token ids never generated; -1 means Whisper's default symbol set.
      suppress_blank: do not start a chunk with a blank.
      suppress_numerals: never emit digits or currency symbols (spell numbers out), which
        helps CTC alignment.
      max_new_tokens: cap on generated tokens per chunk (None: up to the model's 448).
      word_timestamps: compute word times (cross-attention alignment).
    """

    task: Task = "transcribe"
    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    initial_prompt: str | None = None
    hotwords: str | None = None
    suppress_tokens: tuple[int, ...] = (-1,)
    suppress_blank: bool = True
    suppress_numerals: bool = False
    max_new_tokens: int | None = None
    word_timestamps: bool = True
    prepend_punctuations: str = "\"'“¿([{-"
    append_punctuations: str = "\"'.。,，!！?？:：”)]}、"

    def __post_init__(self) -> None:
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', got {self.task!r}")
        if self.beam_size < 1 or self.best_of < 1:
            raise ValueError("beam_size and best_of must be >= 1")
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ValueError("temperature must be one or more values >= 0")
        if self.max_new_tokens is not None and not 1 <= self.max_new_tokens <= 440:
            raise ValueError("max_new_tokens must be between 1 and 440")


@dataclass
class ChunkResult:
    """What Whisper produced for one chunk."""

    chunk: SpeechChunk
    language: str
    tokens: list[int]
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    # Words with absolute times: {"word", "start", "end", "probability"}.
    words: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_silence(self) -> bool:
        return not self.text.strip()


def needs_fallback(result: ChunkResult, options: DecodeOptions) -> bool:
    failed = (
        options.compression_ratio_threshold is not None
        and result.compression_ratio > options.compression_ratio_threshold
    ) or (
        options.log_prob_threshold is not None and result.avg_logprob < options.log_prob_threshold
    )
    return failed and not is_silence(result, options)


def is_silence(result: ChunkResult, options: DecodeOptions) -> bool:
    return (
        options.no_speech_threshold is not None
        and result.no_speech_prob > options.no_speech_threshold
        and options.log_prob_threshold is not None
        and result.avg_logprob < options.log_prob_threshold
    )


def better(old: ChunkResult, new: ChunkResult, options: DecodeOptions) -> ChunkResult:
    """Keep the new attempt if it passes; otherwise the most likely non-repetitive one."""
    if not needs_fallback(new, options):
        return new
    thr = options.compression_ratio_threshold
    ok = [r for r in (old, new) if thr is None or r.compression_ratio <= thr] or [old, new]
    return max(ok, key=lambda r: r.avg_logprob)


def drop_if_silence(result: ChunkResult, options: DecodeOptions) -> ChunkResult:
    if is_silence(result, options):
        return replace(result, tokens=[], text="")
    return result

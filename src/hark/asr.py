"""Batched Whisper decoding on CTranslate2, through faster-whisper's primitives.

Each VAD chunk (<= 30 s) is one item of a batch. Unlike WhisperX's batched mode, chunks whose
result looks wrong (too repetitive, too unlikely) are decoded again at the next temperature,
one chunk at a time only where needed. Word times come from Whisper's cross-attention
(CTranslate2's `align`), so every word has a start and an end even without a CTC aligner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cache
from math import ceil
from typing import Any

import numpy as np

from hark.cores import default_cpu_threads
from hark.decode_options import (
    ChunkResult,
    DecodeOptions,
    Task,
    better,
    drop_if_silence,
    needs_fallback,
)
from hark.vad import SpeechChunk

logger = logging.getLogger(__name__)

__all__ = ["COMPUTE_TYPES", "ChunkResult", "DecodeOptions", "WhisperASR", "resolve_compute_type"]
CPU_ENCODE_BATCH = 1
WINDOW_FRAMES = 3000  # Whisper's 30 s input, in 10 ms feature frames
FRAMES_PER_SECOND = 100
# Prompt lengths (tokens of previous text) a live window's prompt is cut to, keeping its most
# recent tokens. CTranslate2 decodes a batch only when <|startoftranscript|> sits at the same
# position in every prompt (its own advice: "adapt the number of previous text tokens"), so
# streams whose prompts differ share a batch once their prompts have one of these lengths.
PROMPT_BUCKETS = (0, 4, 8, 16, 32, 64, 128)
# A chunk's generation length (CTranslate2's `max_length`, after its prompt) is at most this
# many tokens per second of its audio, plus TOKEN_MARGIN. Speech takes under 10 per second in
# any language Whisper writes (English about 4; CTranslate2 generated about half of
# `max_length` new tokens when measured, so the bound is looser still): it only stops loops,
# and caps what they cost: "Hear. Hear. ..." on a 3 s live window ran to the model's 448,
# 3.9 s of decode on the real base (CPU), instead of the 0.4 s the window's speech takes.
TOKENS_PER_SECOND = 30
TOKEN_MARGIN = 20
PromptText = str | tuple[int, ...] | None
"""A chunk's previous text: a string, or its tokens already cut (`WhisperASR.prompt_tokens`)."""
COMPUTE_TYPES = (
    "default",
    "auto",
    "int8",
    "int8_float16",
    "int8_bfloat16",
    "int8_float32",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)


def resolve_device(device: str) -> str:
    import ctranslate2

    if device == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise ValueError("device='cuda' was requested but no CUDA device is visible")
    return device


# What compute_type="default" runs. On CPU int8 costs about 1.4x less than float32 with the same
# words on the real Whisper base (docs/benchmarks.md, "Compute type on CPU"); on CUDA float16 is
# what every Whisper runtime uses.
DEFAULT_COMPUTE_TYPE = {"cpu": "int8", "cuda": "float16"}


def resolve_compute_type(compute_type: str, device: str) -> str:
    """The CTranslate2 type to load: "default" picks by device, anything else is kept."""
    if compute_type != "default":
        return compute_type
    import ctranslate2

    wanted = DEFAULT_COMPUTE_TYPE[device]
    return wanted if wanted in ctranslate2.get_supported_compute_types(device) else "float32"


class WhisperASR:
    """A loaded CTranslate2 Whisper model with batched, fallback-aware decoding."""

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        device: str = "auto",
        device_index: int | list[int] = 0,
        compute_type: str = "default",
        cpu_threads: int = 0,
        num_workers: int = 1,
    ) -> None:
        from faster_whisper import WhisperModel

        if compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type must be one of {', '.join(COMPUTE_TYPES)}")
        self.device = resolve_device(device)
        self.requested_compute_type = compute_type
        self.model = WhisperModel(
            str(model_dir),
            device=self.device,
            device_index=device_index,
            compute_type=resolve_compute_type(compute_type, self.device),
            cpu_threads=cpu_threads or default_cpu_threads(),
            num_workers=num_workers,
        )
        self.ct2 = self.model.model
        self.compute_type: str = self.ct2.compute_type
        self.is_multilingual: bool = self.ct2.is_multilingual
        self.n_mels: int = self.ct2.n_mels
        if self.model.feature_extractor.mel_filters.shape[0] != self.n_mels:
            # faster-whisper sizes its features from preprocessor_config.json and falls back to
            # 80 bins without it; large-v3 and its derivatives take 128: trust the model.
            from faster_whisper.feature_extractor import FeatureExtractor

            kwargs = {**getattr(self.model, "feat_kwargs", {}), "feature_size": self.n_mels}
            self.model.feature_extractor = FeatureExtractor(**kwargs)

    @property
    def languages(self) -> list[str]:
        return self.model.supported_languages

    @property
    def max_prompt_tokens(self) -> int:
        """Previous-text tokens faster-whisper keeps in a prompt (half the context)."""
        return int(self.model.max_length // 2 - 1)

    def prompt_tokens(self, text: str | None, *, bucketed: bool = False) -> tuple[int, ...]:
        """The previous-text tokens the decoder is prompted with for `text` (as many as
        faster-whisper keeps), cut from the left to the longest of `PROMPT_BUCKETS` that fits
        when `bucketed` (live windows: their prompts then batch across streams)."""
        if not text or not text.strip():
            return ()
        # Whisper's byte-level BPE encodes text the same way for every language and task.
        tokens = self.tokenizer("en", "transcribe").encode(" " + text.strip())
        tokens = tokens[-self.max_prompt_tokens :]
        if bucketed:
            keep = max(b for b in PROMPT_BUCKETS if b <= len(tokens))
            tokens = tokens[len(tokens) - keep :] if keep else []
        return tuple(tokens)

    # -- tokenizers and features -------------------------------------------------------------

    @cache  # noqa: B019 - one per (language, task); the model lives as long as its tokenizers
    def tokenizer(self, language: str | None, task: Task) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(
            self.model.hf_tokenizer,
            self.is_multilingual,
            task=task,
            language=language if self.is_multilingual else "en",
        )

    @cache  # noqa: B019
    def numeral_tokens(self) -> tuple[int, ...]:
        """Token ids whose text holds a digit or a currency/percent sign (suppress_numerals)."""
        tok = self.tokenizer("en", "transcribe")
        symbols = set("0123456789%$£€¥")
        return tuple(i for i in range(tok.eot) if symbols.intersection(tok.decode([i])))

    def features(self, audios: Sequence[np.ndarray], frames: int = WINDOW_FRAMES) -> np.ndarray:
        """Log-mel features of each chunk's audio, padded to Whisper's 30 s window (or to
        `frames`, see `encoder_frames`): (B, n_mels, frames)."""
        from faster_whisper.audio import pad_or_trim

        extractor = self.model.feature_extractor
        feats = [pad_or_trim(extractor(audio)[..., :-1], frames) for audio in audios]
        return np.stack(feats).astype(np.float32, copy=False)

    @staticmethod
    def encoder_frames(seconds: float, pad_s: float) -> int:
        """Feature frames for a window of `seconds` encoded with at least `pad_s` of silence
        after it, in whole seconds, at most Whisper's 30 s. CTranslate2 encodes shorter
        inputs (the encoder's cost grows faster than linearly with its length: 1/4 of the
        time at 15 s on the real base); Whisper was trained on 30 s windows and loops on a
        window cut right after the speech, so some padding stays (docs/live.md)."""
        whole = ceil(seconds + pad_s)
        return min(WINDOW_FRAMES, max(2, whole) * FRAMES_PER_SECOND)

    def encode(self, features: np.ndarray) -> Any:
        """Run the encoder on a batch of features.

        On CPU the batch is encoded one chunk at a time: the encoder's attention scores grow
        with batch x heads x 1500², which made a batch of 8 cost ~700 MB extra with `base`,
        while batching the encoder gives no speed-up on CPU. The decoder still runs batched.
        """
        if self.device != "cpu" or len(features) <= CPU_ENCODE_BATCH:
            return self.model.encode(features)
        import ctranslate2

        parts = [
            np.asarray(self.model.encode(features[i : i + CPU_ENCODE_BATCH]))
            for i in range(0, len(features), CPU_ENCODE_BATCH)
        ]
        return ctranslate2.StorageView.from_array(np.concatenate(parts))

    def _features_and_encoding(
        self,
        audios: Sequence[np.ndarray],
        encoded: Sequence[np.ndarray | None] | None,
        features: np.ndarray | None = None,
        frames: int = WINDOW_FRAMES,
    ) -> tuple[np.ndarray | None, Any]:
        """(features, encoder output) of a batch (`features`: already computed for every
        chunk, e.g. while the previous batch decoded). On CPU the encoder output is all a
        batch needs later (its rows are sliced for retries), so chunks whose encoding is given
        get no features and no second encoding, and features come back as None."""
        if self.device != "cpu":
            features = self.features(audios, frames) if features is None else features
            return features, self.encode(features)
        given = list(encoded) if encoded is not None else [None] * len(audios)
        if frames != WINDOW_FRAMES:  # encodings kept from language detection are 30 s ones
            given = [None] * len(audios)
        missing = [i for i, e in enumerate(given) if e is None]
        if len(missing) == len(given):
            return None, self.encode(
                self.features(audios, frames) if features is None else features
            )
        if missing:
            needed = (
                self.features([audios[i] for i in missing])
                if features is None
                else features[missing]
            )
            fresh = np.asarray(self.encode(needed))
            for k, i in enumerate(missing):
                given[i] = fresh[k]
        import ctranslate2

        return None, ctranslate2.StorageView.from_array(np.stack(given))

    def _rows(self, features: np.ndarray | None, encoder_output: Any, idx: list[int]) -> Any:
        """The encoder output of some chunks of a batch: sliced on CPU, encoded again on GPU
        (where a StorageView cannot be sliced in place)."""
        if features is None:
            import ctranslate2

            rows = np.ascontiguousarray(np.asarray(encoder_output)[idx])
            return ctranslate2.StorageView.from_array(rows)
        return self.encode(features[idx])

    # -- language ----------------------------------------------------------------------------

    def language_probabilities(self, encoder_output: Any) -> list[dict[str, float]]:
        """Per batch item, {language code: probability}."""
        if not self.is_multilingual:
            return [{"en": 1.0} for _ in range(encoder_output.shape[0])]
        results = self.ct2.detect_language(encoder_output)
        return [{token[2:-2]: prob for token, prob in item} for item in results]

    # -- decoding ----------------------------------------------------------------------------

    def transcribe_batch(
        self,
        audios: Sequence[np.ndarray],
        chunks: Sequence[SpeechChunk],
        languages: Sequence[str | None],
        options: DecodeOptions,
        encoded: Sequence[np.ndarray | None] | None = None,
        features: np.ndarray | None = None,
        prompts: Sequence[PromptText] | None = None,
        frames: int = WINDOW_FRAMES,
    ) -> list[ChunkResult]:
        """Decode a batch of chunks (their audio, and each one's language: None = detect).

        The chunks may come from different files: the scheduler mixes requests in a batch.
        `prompts`: each chunk's own previous text (None: `options.initial_prompt`), so that
        requests and live streams with different prompts share a batch; CTranslate2 needs
        the same number of previous-text tokens in every item (`prompt_tokens`).
        `encoded` (CPU): encoder outputs already computed for some chunks (language detection
        keeps them), which are then not encoded again. `features`: the chunks' log-mel
        features, when the caller computed them ahead (`Pipeline.decode` overlaps them with
        the previous batch's decoding). `frames`: the encoder's input length (30 s unless
        the caller shortens it for short windows, `encoder_frames`).
        """
        if not chunks:
            return []
        features, encoder_output = self._features_and_encoding(audios, encoded, features, frames)
        if any(lang is None for lang in languages):
            detected = self.language_probabilities(encoder_output)
            languages = [
                lang or max(probs, key=probs.__getitem__)
                for lang, probs in zip(languages, detected, strict=True)
            ]
        texts = list(prompts) if prompts is not None else [None] * len(chunks)
        texts = [t if t is not None else options.initial_prompt for t in texts]
        results = self._generate(
            encoder_output,
            list(range(len(chunks))),
            chunks,
            languages,
            texts,
            options,
            options.temperatures[0],
        )

        # Temperature fallback, only for the chunks that need it.
        for temperature in options.temperatures[1:]:
            retry = [i for i, r in enumerate(results) if needs_fallback(r, options)]
            if not retry:
                break
            sub = self._rows(features, encoder_output, retry)
            again = self._generate(sub, retry, chunks, languages, texts, options, temperature)
            for i, result in zip(retry, again, strict=True):
                results[i] = better(results[i], result, options)

        results = [drop_if_silence(r, options) for r in results]
        if options.word_timestamps:
            self._add_word_times(features, encoder_output, results, options)
        return results

    def _prompt(self, language: str, text: PromptText, options: DecodeOptions) -> list[int]:
        tok = self.tokenizer(language, options.task)
        if isinstance(text, tuple):
            previous = list(text)
        else:
            previous = tok.encode(" " + text.strip()) if text and text.strip() else []
        return self.model.get_prompt(
            tok, previous, without_timestamps=True, hotwords=options.hotwords
        )

    def _suppress(self, options: DecodeOptions) -> list[int]:
        from faster_whisper.transcribe import get_suppressed_tokens

        tokens = list(
            get_suppressed_tokens(self.tokenizer("en", options.task), list(options.suppress_tokens))
        )
        if options.suppress_numerals:
            tokens = sorted(set(tokens).union(self.numeral_tokens()))
        return tokens

    def _generate(
        self,
        encoder_output: Any,
        indices: list[int],
        chunks: Sequence[SpeechChunk],
        languages: Sequence[str],
        texts: Sequence[PromptText],
        options: DecodeOptions,
        temperature: float,
    ) -> list[ChunkResult]:
        from faster_whisper.transcribe import get_compression_ratio

        prompts = [self._prompt(languages[i], texts[i], options) for i in indices]
        longest = max(len(p) for p in prompts)
        max_length = self.model.max_length
        longest_audio = max(chunks[i].duration for i in indices)
        max_length = min(
            max_length, longest + ceil(TOKENS_PER_SECOND * longest_audio) + TOKEN_MARGIN
        )
        if options.max_new_tokens is not None:
            max_length = min(max_length, longest + options.max_new_tokens)
        if longest >= max_length:
            raise ValueError(
                "initial_prompt and hotwords leave no room for the transcript; shorten them"
            )
        sampling = temperature > 0
        generated = self.ct2.generate(
            encoder_output,
            prompts,
            beam_size=1 if sampling else options.beam_size,
            num_hypotheses=options.best_of if sampling else 1,
            sampling_topk=0 if sampling else 1,
            sampling_temperature=temperature if sampling else 1.0,
            patience=options.patience,
            length_penalty=options.length_penalty,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            max_length=max_length,
            suppress_blank=options.suppress_blank,
            suppress_tokens=self._suppress(options),
            return_scores=True,
            return_no_speech_prob=True,
        )
        out = []
        for i, result in zip(indices, generated, strict=True):
            tok = self.tokenizer(languages[i], options.task)
            candidates = []
            for tokens, score in zip(result.sequences_ids, result.scores, strict=True):
                # CTranslate2 returns a length-normalised score; undo it as faster-whisper does.
                cum = score * (len(tokens) ** options.length_penalty)
                text = tok.decode(tokens)
                candidates.append(
                    ChunkResult(
                        chunk=chunks[i],
                        language=languages[i],
                        tokens=list(tokens),
                        text=text,
                        avg_logprob=cum / (len(tokens) + 1),
                        no_speech_prob=result.no_speech_prob,
                        compression_ratio=get_compression_ratio(text),
                        temperature=temperature,
                    )
                )
            out.append(max(candidates, key=lambda r: r.avg_logprob))
        return out

    def _add_word_times(
        self,
        features: np.ndarray | None,
        encoder_output: Any,
        results: list[ChunkResult],
        options: DecodeOptions,
    ) -> None:
        from faster_whisper.transcribe import merge_punctuations

        languages = {r.language for r in results if r.tokens}
        for language in languages:
            tok = self.tokenizer(language, options.task)
            if len(languages) == 1:
                # Align the whole batch on the encoder output we already have; chunks without
                # text get a placeholder token and their (empty) alignment is ignored.
                idx = list(range(len(results)))
                enc = encoder_output
            else:
                # CTranslate2 aligns a batch against one start sequence: one pass per language.
                idx = [i for i, r in enumerate(results) if r.language == language and r.tokens]
                enc = self._rows(features, encoder_output, idx)
            text_tokens = [[t for t in results[i].tokens if t < tok.eot] or [_SPACE] for i in idx]
            num_frames = [min(3000, ceil(results[i].chunk.duration * 100)) for i in idx]
            alignments = self.model.find_alignment(tok, text_tokens, enc, num_frames)
            for i, alignment in zip(idx, alignments, strict=True):
                if not results[i].tokens:
                    continue
                merge_punctuations(
                    alignment, options.prepend_punctuations, options.append_punctuations
                )
                results[i].words = [
                    _absolute_word(results[i].chunk, w) for w in alignment if w["word"].strip()
                ]


def _absolute_word(chunk: SpeechChunk, word: dict[str, Any]) -> dict[str, Any]:
    start = chunk.to_absolute(float(word["start"]))
    end = chunk.to_absolute(float(word["end"]), is_end=True)
    # A zero-length word on a seam maps to both sides of the gap: keep end >= start.
    return {
        "word": word["word"],
        "start": start,
        "end": max(start, end),
        "probability": float(word["probability"]),
    }


_SPACE = 220  # the " " token of Whisper's byte-level BPE

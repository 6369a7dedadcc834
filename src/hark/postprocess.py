"""From decoded chunks to the final segments: CTC alignment, sentences, speakers.

Order matters: alignment runs on whole chunk segments (the aligner gets the most context and
slack), sentences are cut from the aligned words, and speakers are assigned last (a segment
that changes speaker mid-way is split at the word boundary).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from hark.asr import ChunkResult
from hark.schema import AlignmentMethod, CharAlignment, Segment, Transcript, Word
from hark.sentences import split_sentences

logger = logging.getLogger(__name__)
_warned_languages: set[str] = set()

_DECODE_FIELDS = ("avg_logprob", "no_speech_prob", "compression_ratio", "temperature", "language")


def chunk_segments(results: list[ChunkResult], per_chunk_language: bool) -> list[Segment]:
    """One segment per chunk that produced text, with Whisper's word times."""
    segments = []
    for r in results:
        text = r.text.strip()
        if not text:
            continue
        words = [
            Word(
                word=w["word"].strip(),
                start=w["start"],
                end=w["end"],
                score=min(1.0, max(0.0, w["probability"])),
            )
            for w in r.words
        ]
        segments.append(
            Segment(
                start=words[0].start if words else r.chunk.start,
                end=max(w.end for w in words) if words else r.chunk.end,
                text=text,
                words=words,
                avg_logprob=round(r.avg_logprob, 4),
                no_speech_prob=round(r.no_speech_prob, 4),
                compression_ratio=round(r.compression_ratio, 4),
                temperature=r.temperature,
                language=r.language if per_chunk_language else None,
            )
        )
    return segments


def align_segments(
    segments: list[Segment],
    samples: np.ndarray,
    language: str | None,
    load_aligner: Callable[[str], Any],
    **align_kwargs: Any,
) -> tuple[list[Segment], AlignmentMethod | None]:
    """Refine word times with the CTC aligner of each segment's language.

    Never fails because of the aligner: a language without one, a model that is missing
    offline or that breaks, all keep Whisper's times, and the result says which method won.
    """
    from hark.align import AlignError, align

    if not any(s.words for s in segments):
        return segments, None
    by_language: dict[str, list[int]] = {}
    for i, segment in enumerate(segments):
        by_language.setdefault(segment.language or language or "en", []).append(i)

    out = list(segments)
    methods: set[AlignmentMethod] = set()
    for lang, idx in by_language.items():
        try:
            aligner = load_aligner(lang)
            aligned = align([segments[i] for i in idx], samples, aligner, **align_kwargs)
        except AlignError as exc:
            # Once per process and language: a missing aligner stays missing (it is remembered).
            log = logger.debug if lang in _warned_languages else logger.warning
            _warned_languages.add(lang)
            log("word alignment: %s; keeping Whisper's word times", exc)
            methods.add("whisper")
            continue
        for i, segment in zip(idx, aligned, strict=True):
            out[i] = segment
        methods.add("ctc")
    return out, "ctc" if methods == {"ctc"} else "whisper"


def sentence_segments(segments: list[Segment]) -> list[Segment]:
    """Cut chunk segments into sentences at the word level."""
    out: list[Segment] = []
    for segment in segments:
        if not segment.words:
            out.append(segment)
            continue
        fields = {k: getattr(segment, k) for k in _DECODE_FIELDS}
        sentences = split_sentences(segment.words, **fields)
        if segment.chars:
            _share_chars(segment.chars, sentences)
        out.extend(sentences)
    return out


def _share_chars(chars: list[CharAlignment], sentences: list[Segment]) -> None:
    """Give each sentence the character alignments that fall inside it (by start time)."""
    bounds = [s.end for s in sentences]
    buckets: list[list[CharAlignment]] = [[] for _ in sentences]
    current = 0
    for char in chars:
        if char.start is not None:
            while current < len(bounds) - 1 and char.start >= bounds[current]:
                current += 1
        buckets[current].append(char)
    for sentence, bucket in zip(sentences, buckets, strict=True):
        sentence.chars = bucket


_ANONYMOUS = re.compile(r"SPEAKER_\d+")


def renumber_speakers(transcript: Transcript) -> Transcript:
    """Number anonymous speakers SPEAKER_00, SPEAKER_01, ... in the order they first speak in
    the transcript (the diarizer numbers its turns, which may start before the first word).
    Names of enrolled speakers stay as they are; speakers without words come last."""
    embeddings = transcript.speaker_embeddings or {}
    order = [s for s in transcript.speakers if _ANONYMOUS.fullmatch(s)]
    order += [k for k in embeddings if _ANONYMOUS.fullmatch(k) and k not in order]
    mapping = {old: f"SPEAKER_{i:02d}" for i, old in enumerate(order)}
    if all(old == new for old, new in mapping.items()):
        return transcript

    def rename(label: str | None) -> str | None:
        return mapping.get(label, label) if label is not None else None

    segments = []
    for segment in transcript.segments:
        words = [w.model_copy(update={"speaker": rename(w.speaker)}) for w in segment.words]
        segments.append(
            segment.model_copy(update={"speaker": rename(segment.speaker), "words": words})
        )
    renamed = {rename(k) or k: v for k, v in embeddings.items()}
    turns = transcript.speaker_turns
    return transcript.model_copy(
        update={
            "segments": segments,
            "speaker_embeddings": renamed if transcript.speaker_embeddings is not None else None,
            "speaker_turns": None
            if turns is None
            else [t.model_copy(update={"speaker": rename(t.speaker)}) for t in turns],
        }
    )

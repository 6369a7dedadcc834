"""Example payloads shown in /docs."""

from __future__ import annotations

from typing import Any

_WORDS = [
    {"word": "And", "start": 0.24, "end": 0.42, "score": 0.91},
    {"word": "so,", "start": 0.42, "end": 0.9, "score": 0.88},
    {"word": "my", "start": 1.1, "end": 1.32, "score": 0.95},
    {"word": "fellow", "start": 1.32, "end": 1.72, "score": 0.97},
    {"word": "Americans.", "start": 1.72, "end": 2.5, "score": 0.93},
]
TRANSCRIPT_EXAMPLE: dict[str, Any] = {
    "segments": [
        {
            "start": 0.24,
            "end": 2.5,
            "text": "And so, my fellow Americans.",
            "words": _WORDS,
            "avg_logprob": -0.21,
            "no_speech_prob": 0.01,
            "compression_ratio": 0.9,
            "temperature": 0.0,
        }
    ],
    "language": "en",
    "language_probability": 0.98,
    "language_candidates": [{"language": "en", "probability": 0.98}],
    "duration": 11.0,
    "task": "transcribe",
    "alignment": "whisper",
    "model": {"name": "small", "device": "cpu", "compute_type": "int8"},
    "word_segments": _WORDS,
}
_SRT = "1\n00:00:00,240 --> 00:00:02,500\nAnd so, my fellow Americans.\n"
_VTT = "WEBVTT\n\n00:00:00.240 --> 00:00:02.500\nAnd so, my fellow Americans.\n"
_TSV = "start\tend\ttext\n240\t2500\tAnd so, my fellow Americans.\n"

ASR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The transcript in the `output` format, as an attachment.",
        "content": {
            "application/json": {"example": TRANSCRIPT_EXAMPLE},
            "text/plain": {"example": "And so, my fellow Americans.\n"},
            "text/tab-separated-values": {"example": _TSV},
            "application/x-subrip": {"example": _SRT},
            "text/vtt": {"example": _VTT},
        },
    }
}

DETECT_EXAMPLE = {
    "language": "en",
    "language_probability": 0.97,
    "candidates": [
        {"language": "en", "probability": 0.97},
        {"language": "de", "probability": 0.01},
    ],
    "detected_language": "english",
    "language_code": "en",
    "confidence": 0.97,
}

OPENAI_VERBOSE_EXAMPLE = {
    "task": "transcribe",
    "language": "english",
    "duration": 11.0,
    "text": "And so, my fellow Americans.",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.24,
            "end": 2.5,
            "text": " And so, my fellow Americans.",
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": -0.21,
            "compression_ratio": 0.9,
            "no_speech_prob": 0.01,
        }
    ],
    "words": [{"word": w["word"], "start": w["start"], "end": w["end"]} for w in _WORDS],
    "usage": {"type": "duration", "seconds": 11},
}
OPENAI_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The transcript in `response_format`.",
        "content": {
            "application/json": {
                "examples": {
                    "json": {"value": {"text": "And so, my fellow Americans."}},
                    "verbose_json": {"value": OPENAI_VERBOSE_EXAMPLE},
                }
            },
            "text/plain": {"example": "And so, my fellow Americans.\n"},
            "application/x-subrip": {"example": _SRT},
            "text/vtt": {"example": _VTT},
        },
    }
}

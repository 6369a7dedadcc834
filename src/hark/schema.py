"""Typed results of the pipeline.

The JSON form matches WhisperX where WhisperX defines it (`segments[].words[]`,
`word_segments`, `language`) and adds what WhisperX leaves out (`duration`,
`language_probability`, candidates, model info, which method produced the word times).
Times are seconds rounded to milliseconds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field


def _ms(value: float) -> float:
    return round(float(value), 3)


Seconds = Annotated[float, AfterValidator(_ms)]
"""A time in seconds, rounded to 3 decimals on construction."""

AlignmentMethod = Literal["ctc", "whisper"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; optional fields that are unset are left out."""
        return self.model_dump(mode="json", exclude_none=True)


class CharAlignment(_Model):
    """One character of a CTC alignment (only with `return_char_alignments`)."""

    char: str
    start: Seconds | None = None
    end: Seconds | None = None
    score: float | None = None


class Word(_Model):
    """A word with its times. `score` is a probability in [0, 1]."""

    word: str
    start: Seconds
    end: Seconds
    score: float = Field(ge=0.0, le=1.0)
    speaker: str | None = None
    # True when the times were interpolated from neighbours rather than measured.
    interpolated: bool | None = None


class Segment(_Model):
    """A run of words, roughly a sentence; the unit of subtitle cues and TXT lines."""

    start: Seconds
    end: Seconds
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None
    # Language the segment was decoded in (set with language="auto-per-chunk").
    language: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    chars: list[CharAlignment] | None = None


class LanguageCandidate(_Model):
    language: str
    probability: float


class ModelInfo(_Model):
    name: str
    device: str
    compute_type: str
    # What was asked for: "default" resolves by device (int8 on CPU, float16 on CUDA).
    requested_compute_type: str = "default"
    path: str | None = None


class SpeakerTurn(_Model):
    """One stretch of one speaker as the diarizer found it (independent of the words)."""

    start: Seconds
    end: Seconds
    speaker: str


class Transcript(_Model):
    """The result of `Pipeline.transcribe`."""

    segments: list[Segment] = Field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None
    language_candidates: list[LanguageCandidate] = Field(default_factory=list)
    duration: Seconds = 0.0
    task: Literal["transcribe", "translate"] = "transcribe"
    # Which method produced the word times; None when there are no words.
    alignment: AlignmentMethod | None = None
    model: ModelInfo | None = None
    # One embedding per speaker, only with `return_speaker_embeddings`.
    speaker_embeddings: dict[str, list[float]] | None = None
    # The diarizer's own turns, with the words' labels (set with diarization). RTTM is written
    # from these: they hold speech that has no transcribed words (backchannels, overlap).
    speaker_turns: list[SpeakerTurn] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def word_segments(self) -> list[Word]:
        """All words of all segments, flat, as WhisperX returns them."""
        return [word for segment in self.segments for word in segment.words]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def speakers(self) -> list[str]:
        """Speaker labels in order of first appearance."""
        seen: dict[str, None] = {}
        for segment in self.segments:
            for label in [segment.speaker, *(w.speaker for w in segment.words)]:
                if label is not None:
                    seen.setdefault(label, None)
        for turn in self.speaker_turns or []:
            seen.setdefault(turn.speaker, None)  # speakers who said no transcribed word
        return list(seen)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        """Inverse of `to_dict` (the derived `word_segments` is recomputed)."""
        data = {k: v for k, v in data.items() if k != "word_segments"}
        return cls.model_validate(data)

"""What diarization returns: speaker turns and, optionally, one embedding per speaker."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpeakerTurn:
    """One speaker talking from `start` to `end` (seconds)."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Diarization:
    """Speaker turns in time order (they may overlap when a segmentation model found overlap).

    Attributes:
        turns: The turns; labels are `SPEAKER_00`, `SPEAKER_01`, ... in order of first
            appearance, or the names of enrolled known speakers.
        embeddings: Per-speaker embedding (the normalised mean of the speaker's window
            embeddings), only when asked for.
    """

    turns: list[SpeakerTurn] = field(default_factory=list)
    embeddings: dict[str, list[float]] | None = None

    @property
    def speakers(self) -> list[str]:
        """Speaker labels in order of first appearance."""
        return list(dict.fromkeys(turn.speaker for turn in self.turns))

    def to_rttm(self, uri: str = "audio") -> str:
        """The turns as RTTM lines (`SPEAKER <uri> 1 <start> <duration> ...`)."""
        uri = "_".join(uri.split()) or "audio"
        return "".join(
            f"SPEAKER {uri} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
            for t in self.turns
        )

"""Options that shape subtitle cues (SRT and VTT); the other formats ignore them."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class SubtitleOptions:
    """How transcript words are grouped into subtitle cues.

    Without `max_line_width` a cue is a segment on one line (as WhisperX writes them),
    still split where `max_cue_duration`, a speaker change or a long pause demands it.
    With `max_line_width` words are wrapped greedily into lines of at most that many
    characters (a single longer word stands alone on its line; the speaker prefix is not
    counted). With `max_line_count` as well, lines are packed across segment boundaries
    into cues of at most that many lines.

    Attributes:
        max_line_width: Characters per line; None keeps each cue on one line.
        max_line_count: Lines per cue; needs `max_line_width`.
        highlight_words: Karaoke style: one cue per word showing its whole cue's text
            with that word underlined (`<u>..</u>`). A word's cue lasts until the next
            word starts, so the text never flickers off between words.
        max_cue_duration: Seconds a cue may last; longer runs of words are split and a
            single word longer than this is shown for this long only. None: no limit.
        min_cue_duration: Seconds a cue should at least last; shorter cues are extended
            into the silence that follows, never past the next cue's start.
        pause_split: A silence between two words longer than this (seconds) starts a new
            cue, so that no text hangs on screen through it. None: never split on pauses.
    """

    max_line_width: int | None = None
    max_line_count: int | None = None
    highlight_words: bool = False
    max_cue_duration: float | None = None
    min_cue_duration: float = 0.0
    pause_split: float | None = 3.0

    def __post_init__(self) -> None:
        # One rule for every number: inf and nan are refused (they break the cue arithmetic).
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
        if self.max_line_width is not None and self.max_line_width < 1:
            raise ValueError(f"max_line_width must be >= 1, got {self.max_line_width}")
        if self.max_line_count is not None:
            if self.max_line_count < 1:
                raise ValueError(f"max_line_count must be >= 1, got {self.max_line_count}")
            if self.max_line_width is None:
                # Lines only exist once a width wraps them; silently ignoring it misleads.
                raise ValueError("max_line_count needs max_line_width")
        if self.max_cue_duration is not None and self.max_cue_duration < 0.001:
            raise ValueError(f"max_cue_duration must be >= 0.001 s, got {self.max_cue_duration}")
        if self.min_cue_duration < 0:
            raise ValueError(f"min_cue_duration must be >= 0, got {self.min_cue_duration}")
        if self.max_cue_duration is not None and self.min_cue_duration > self.max_cue_duration:
            raise ValueError("min_cue_duration must not exceed max_cue_duration")
        if self.pause_split is not None and self.pause_split <= 0:
            raise ValueError(f"pause_split must be > 0, got {self.pause_split}")

"""Subtitle cues: words grouped into lines and cues, then timed without overlaps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hark.formats.options import SubtitleOptions
from hark.formats.words import Token, word_tokens
from hark.schema import Transcript

Lines = list[list[Token]]


def _same(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle cue. Times are integer milliseconds; `end_ms > start_ms`."""

    start_ms: int
    end_ms: int
    # Words per line; a word after the first on its line starts with " " when spaced.
    lines: tuple[tuple[str, ...], ...]
    speaker: str | None = None
    # Index (over all words of the cue, in order) of the word to underline.
    highlight: int | None = None

    @property
    def start(self) -> float:
        return self.start_ms / 1000

    @property
    def end(self) -> float:
        return self.end_ms / 1000

    @property
    def text(self) -> str:
        """Plain text, lines joined by newlines, without markup."""
        return "\n".join(self.render_lines(mark=False))

    def render_lines(self, escape: Callable[[str], str] = _same, mark: bool = True) -> list[str]:
        """The lines with each word passed through `escape`, highlight as `<u>..</u>`."""
        out, index = [], 0
        for line in self.lines:
            parts = []
            for piece in line:
                word = piece.lstrip(" ")
                text = escape(word)
                if mark and index == self.highlight:
                    text = f"<u>{text}</u>"
                parts.append(piece[: len(piece) - len(word)] + text)
                index += 1
            out.append("".join(parts))
        return out


def build_cues(transcript: Transcript, options: SubtitleOptions | None = None) -> list[Cue]:
    """The cues of `transcript`: non-empty, starts strictly increasing, never overlapping."""
    options = options or SubtitleOptions()
    drafts: list[Cue] = []
    for lines in _group(word_tokens(transcript), options):
        start = _ms(lines[0][0].start)
        end = _ms(max(t.end for line in lines for t in line))
        texts = tuple(tuple(_piece(t, i) for i, t in enumerate(line)) for line in lines)
        cue = Cue(start, end, texts, lines[0][0].speaker)
        drafts.extend(_karaoke(cue, lines) if options.highlight_words else [cue])
    limit = _ms(transcript.duration) if transcript.duration > 0 else None
    return _settle(drafts, options, limit)


def _ms(seconds: float) -> int:
    return max(round(seconds * 1000), 0)


def _piece(token: Token, position: int) -> str:
    return (" " if token.space and position else "") + token.text


def _group(tokens: list[Token], options: SubtitleOptions) -> list[Lines]:
    """Greedy layout: each token goes on the current line, a new line, or a new cue."""
    width, count = options.max_line_width, options.max_line_count
    # Packing lines across segments only makes sense when cues have a size limit.
    pack = width is not None and count is not None
    cues: list[Lines] = []
    lines: Lines = []
    line_len, cue_end = 0, 0.0
    for token in tokens:
        if lines and _breaks(lines, cue_end, token, options, pack):
            cues.append(lines)
            lines = []
        added = len(token.text) + (1 if token.space else 0)
        if not lines:
            lines, line_len, cue_end = [[token]], len(token.text), token.end
            continue
        if width is None or line_len + added <= width:
            lines[-1].append(token)
            line_len += added
        elif count is not None and len(lines) >= count:
            cues.append(lines)
            lines, line_len, cue_end = [[token]], len(token.text), token.end
            continue
        else:
            lines.append([token])
            line_len = len(token.text)
        cue_end = max(cue_end, token.end)
    if lines:
        cues.append(lines)
    return cues


def _breaks(
    lines: Lines, cue_end: float, token: Token, options: SubtitleOptions, pack: bool
) -> bool:
    last, first = lines[-1][-1], lines[0][0]
    if not pack and token.segment != last.segment:
        return True
    if token.speaker != last.speaker:
        return True
    if options.pause_split is not None and token.start - cue_end > options.pause_split:
        return True
    limit = options.max_cue_duration
    return limit is not None and token.end - first.start > limit


def _karaoke(cue: Cue, lines: Lines) -> list[Cue]:
    # Each word's cue runs until the next word starts, so the text stays up between words.
    tokens = [t for line in lines for t in line]
    out = []
    for index, token in enumerate(tokens):
        end = _ms(tokens[index + 1].start) if index + 1 < len(tokens) else cue.end_ms
        out.append(Cue(_ms(token.start), end, cue.lines, cue.speaker, index))
    return out


def _settle(drafts: list[Cue], options: SubtitleOptions, limit_ms: int | None) -> list[Cue]:
    """Final times: strictly increasing starts, no overlap, duration bounds applied."""
    starts, floor = [], 0
    for cue in drafts:
        # Identical or reversed starts (degenerate word times) are nudged by a millisecond.
        floor = max(cue.start_ms, floor)
        starts.append(floor)
        floor += 1
    max_ms = None if options.max_cue_duration is None else _ms(options.max_cue_duration)
    min_ms = _ms(options.min_cue_duration)
    settled = []
    for index, cue in enumerate(drafts):
        start = starts[index]
        following = starts[index + 1] if index + 1 < len(starts) else None
        end = max(cue.end_ms, start + 1)
        if following is not None:
            end = min(end, following)
        if max_ms is not None:
            end = min(end, start + max(max_ms, 1))
        if min_ms:
            # Extend into the silence that follows, up to the next cue or the audio's end.
            room = following if following is not None else limit_ms
            target = start + min_ms if room is None else min(start + min_ms, room)
            end = max(end, target)
        settled.append(Cue(start, end, cue.lines, cue.speaker, cue.highlight))
    return settled

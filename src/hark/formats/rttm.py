"""RTTM speaker turns (the NIST diarization format pyannote reads and writes)."""

from __future__ import annotations

from hark.formats.words import segment_speaker
from hark.schema import Transcript

# Same-speaker stretches closer than this (seconds) are one turn: word gaps inside a
# sentence should not fragment a turn, a real pause should.
TURN_GAP = 0.5


class NoSpeakersError(ValueError):
    """Raised for a speaker-only format (RTTM) when the transcript has no speaker labels."""


def speaker_turns(transcript: Transcript) -> list[tuple[str, float, float]]:
    """`(speaker, start, end)` turns: the diarizer's own when the transcript carries them.

    Those hold all the speech the diarizer attributed, also where no word was transcribed
    (backchannels, overlapped talk), as pyannote's RTTM does. Without them (a transcript
    built elsewhere, or speakers from separate channels) the turns come from the words'
    speakers, else the segments'; a word without its own label takes its segment's.
    """
    if transcript.speaker_turns:
        return sorted(
            ((t.speaker, t.start, t.end) for t in transcript.speaker_turns),
            key=lambda turn: (turn[1], turn[2]),
        )
    return _word_turns(transcript)


def _word_turns(transcript: Transcript) -> list[tuple[str, float, float]]:
    units: list[tuple[str, float, float]] = []
    for segment in transcript.segments:
        if segment.words:
            fallback = segment.speaker
            spans = [(w.speaker or fallback, w.start, w.end) for w in segment.words]
        else:
            spans = [(segment_speaker(segment), segment.start, segment.end)]
        units.extend((s, a, b) for s, a, b in spans if s is not None)
    units.sort(key=lambda unit: unit[1])
    turns: list[tuple[str, float, float]] = []
    for speaker, start, end in units:
        if turns and turns[-1][0] == speaker and start - turns[-1][2] <= TURN_GAP:
            turns[-1] = (speaker, turns[-1][1], max(turns[-1][2], end))
        else:
            turns.append((speaker, start, max(end, start)))
    return turns


def render_rttm(transcript: Transcript, uri: str = "audio") -> str:
    if not transcript.speakers:
        raise NoSpeakersError("RTTM needs speaker labels; transcribe with diarization enabled")
    uri = _field(uri) or "audio"
    lines = []
    for speaker, start, end in speaker_turns(transcript):
        duration = round(end - start, 3)
        if duration <= 0:
            continue  # a zero-length turn says nothing about who spoke when
        lines.append(
            f"SPEAKER {uri} 1 {start:.3f} {duration:.3f} <NA> <NA> {_field(speaker)} <NA> <NA>\n"
        )
    return "".join(lines)


def _field(text: str) -> str:
    # RTTM fields are separated by whitespace, so none may contain any.
    return "_".join(text.split())

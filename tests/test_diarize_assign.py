"""Speakers into transcripts (`assign_speakers`) and per-channel transcript merging."""

from __future__ import annotations

from hark.diarize import Diarization, SpeakerTurn, assign_speakers, merge_channel_transcripts
from hark.schema import CharAlignment, Segment, Transcript, Word


def _word(text: str, start: float, end: float) -> Word:
    return Word(word=text, start=start, end=end, score=0.9)


def _segment(words: list[Word], text: str | None = None, **extra: object) -> Segment:
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=text if text is not None else " " + " ".join(w.word for w in words),
        words=words,
        **extra,  # type: ignore[arg-type]
    )


def _diarization(*turns: tuple[float, float, str]) -> Diarization:
    return Diarization(turns=[SpeakerTurn(*t) for t in turns])


def test_word_takes_the_speaker_with_the_largest_overlap() -> None:
    transcript = Transcript(segments=[_segment([_word("hello", 1.0, 2.0)])])
    # A overlaps 0.3 s, B 0.7 s (in two turns: overlaps add up per speaker).
    diarization = _diarization((0.0, 1.3, "A"), (1.3, 1.6, "B"), (1.6, 2.0, "B"))
    out = assign_speakers(transcript, diarization)
    assert out.segments[0].words[0].speaker == "B"
    assert out.segments[0].speaker == "B"


def test_original_transcript_is_left_unchanged() -> None:
    transcript = Transcript(segments=[_segment([_word("hello", 1.0, 2.0)])])
    assign_speakers(transcript, _diarization((0.0, 3.0, "A")))
    assert transcript.segments[0].speaker is None
    assert transcript.segments[0].words[0].speaker is None


def test_words_outside_every_turn_take_the_nearest_speaker() -> None:
    words = [_word("one", 0.0, 0.4), _word("two", 3.0, 3.5), _word("three", 9.0, 9.5)]
    transcript = Transcript(segments=[_segment(words)])
    diarization = _diarization((1.0, 2.0, "A"), (7.2, 8.0, "B"))
    out = assign_speakers(transcript, diarization, split_segments=False)
    assert [w.speaker for w in out.segments[0].words] == ["A", "A", "B"]
    assert all(w.speaker for w in out.word_segments)


def test_without_fill_nearest_unmatched_words_stay_unlabelled() -> None:
    words = [_word("one", 1.2, 1.5), _word("two", 5.0, 5.5)]
    transcript = Transcript(segments=[_segment(words)])
    out = assign_speakers(transcript, _diarization((1.0, 2.0, "A")), fill_nearest=False)
    assert [w.speaker for w in out.segments[0].words] == ["A", None]
    assert out.segments[0].speaker == "A"
    words = [_word("zero", 0.0, 0.5), *words, _word("three", 6.0, 6.5)]
    transcript = Transcript(segments=[_segment(words)])
    diarization = _diarization((1.0, 2.0, "A"), (6.0, 7.0, "B"))
    out = assign_speakers(transcript, diarization, fill_nearest=False)
    # Unlabelled words join the piece they are in instead of becoming pieces of their own.
    assert [[w.word for w in s.words] for s in out.segments] == [
        ["zero", "one", "two"],
        ["three"],
    ]
    assert [s.speaker for s in out.segments] == ["A", "B"]


def test_segment_takes_its_majority_speaker_when_not_split() -> None:
    words = [_word("a", 0.0, 0.5), _word("b", 0.5, 1.0), _word("c", 1.0, 3.0)]
    transcript = Transcript(segments=[_segment(words)])
    diarization = _diarization((0.0, 1.0, "A"), (1.0, 3.0, "B"))
    out = assign_speakers(transcript, diarization, split_segments=False)
    assert len(out.segments) == 1
    assert out.segments[0].speaker == "B"  # 2.0 s of B against 1.0 s of A
    assert [w.speaker for w in out.segments[0].words] == ["A", "A", "B"]


def test_segment_that_changes_speaker_is_split_at_the_word_boundary() -> None:
    words = [
        _word("Are", 0.0, 0.3),
        _word("you", 0.3, 0.5),
        _word("there?", 0.5, 0.9),
        _word("Yes,", 1.2, 1.5),
        _word("I", 1.5, 1.6),
        _word("am.", 1.6, 2.0),
    ]
    chars = [
        CharAlignment(char="A", start=0.0, end=0.1),
        CharAlignment(char=" "),
        CharAlignment(char="Y", start=1.2, end=1.3),
    ]
    segment = _segment(
        words, text=" Are you there? Yes, I am.", avg_logprob=-0.2, language="en", chars=chars
    )
    transcript = Transcript(segments=[segment], language="en", duration=3.0)
    diarization = _diarization((0.0, 1.0, "SPEAKER_00"), (1.1, 2.2, "SPEAKER_01"))
    out = assign_speakers(transcript, diarization)
    first, second = out.segments
    assert (first.text, first.speaker) == (" Are you there?", "SPEAKER_00")
    assert (second.text, second.speaker) == ("Yes, I am.", "SPEAKER_01")
    assert [w.word for w in first.words] == ["Are", "you", "there?"]
    assert (first.start, first.end, second.start, second.end) == (0.0, 0.9, 1.2, 2.0)
    assert second.avg_logprob == -0.2 and second.language == "en"
    assert [c.char for c in first.chars or []] == ["A", " "]
    assert [c.char for c in second.chars or []] == ["Y"]
    assert out.speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert out.duration == 3.0 and out.language == "en"


def test_split_without_spaces_in_the_words() -> None:
    # Words without leading spaces whose text is not found verbatim: pieces are rebuilt.
    words = [_word("one", 0.0, 0.5), _word("two", 1.0, 1.5)]
    transcript = Transcript(segments=[_segment(words, text="ONE TWO")])
    out = assign_speakers(transcript, _diarization((0.0, 0.7, "A"), (0.8, 2.0, "B")))
    assert [s.text for s in out.segments] == ["one", "two"]


def test_segment_without_words_uses_its_own_span() -> None:
    segment = Segment(start=2.0, end=4.0, text=" no words")
    transcript = Transcript(segments=[segment])
    out = assign_speakers(transcript, _diarization((0.0, 2.5, "A"), (2.5, 5.0, "B")))
    assert out.segments[0].speaker == "B"


def test_empty_diarization_leaves_speakers_unset() -> None:
    transcript = Transcript(segments=[_segment([_word("hi", 0.0, 0.5)])])
    out = assign_speakers(transcript, Diarization())
    assert out.segments[0].speaker is None and out.segments[0].words[0].speaker is None


def test_zero_length_word_takes_the_turn_around_it() -> None:
    transcript = Transcript(segments=[_segment([_word("uh", 1.5, 1.5)])])
    out = assign_speakers(transcript, _diarization((0.0, 1.0, "A"), (1.0, 2.0, "B")))
    assert out.segments[0].words[0].speaker == "B"


def test_merge_channel_transcripts_interleaves_and_labels() -> None:
    left = Transcript(
        segments=[_segment([_word("hi", 0.0, 0.5)]), _segment([_word("bye", 4.0, 4.5)])],
        duration=5.0,
        alignment="ctc",
    )
    right = Transcript(segments=[_segment([_word("hello", 1.0, 1.5)])], duration=4.0)
    merged = merge_channel_transcripts([left, right], names=["agent", "caller"])
    assert [s.speaker for s in merged.segments] == ["agent", "caller", "agent"]
    assert [w.speaker for w in merged.word_segments] == ["agent", "caller", "agent"]
    assert merged.duration == 5.0 and merged.alignment == "ctc"
    default = merge_channel_transcripts([left, right])
    assert default.speakers == ["SPEAKER_00", "SPEAKER_01"]

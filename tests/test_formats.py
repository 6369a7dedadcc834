"""Output writers: every format written, read back by real parsers, and laid out as asked."""

from __future__ import annotations

import csv
import html
import io
import json
import random
from pathlib import Path

import av
import pysubs2
import pytest
import webvtt

from hark.formats import (
    FORMAT_CHOICES,
    FORMATS,
    Cue,
    NoSpeakersError,
    SubtitleOptions,
    build_cues,
    content_type,
    render,
    resolve_formats,
    write,
    write_all,
)
from hark.schema import Segment, SpeakerTurn, Transcript, Word

LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitän"
THREE_HOURS = 3 * 3600.0

# ---------------------------------------------------------------- building transcripts


def seg(
    start: float,
    text: str,
    step: float = 0.4,
    speakers: list[str | None] | str | None = None,
    gap: float = 0.05,
) -> Segment:
    """A segment whose words follow each other `step` apart (each lasting `step - gap`)."""
    tokens = text.split()
    labels = speakers if isinstance(speakers, list) else [speakers] * len(tokens)
    words = [
        Word(word=t, start=start + i * step, end=start + (i + 1) * step - gap, score=0.9, speaker=s)
        for i, (t, s) in enumerate(zip(tokens, labels, strict=True))
    ]
    segment_speaker = speakers if isinstance(speakers, str) else None
    end = words[-1].end if words else start
    return Segment(start=start, end=end, text=" " + text, words=words, speaker=segment_speaker)


def transcript(*segments: Segment) -> Transcript:
    duration = max((s.end for s in segments), default=0.0) + 1.0
    return Transcript(segments=list(segments), language="en", duration=duration)


def plain() -> Transcript:
    return transcript(
        seg(0.5, "Grüße aus Köln, naïve café 東京"),
        seg(4.0, "Tom & Jerry <3 say a < b > c --> d"),
        seg(9.0, f"the {LONG_WORD} spoke"),
    )


def spoken() -> Transcript:
    return transcript(
        seg(0.0, "Hello there, how are you?", speakers="SPEAKER_00"),
        seg(3.0, "Fine & you?", speakers="SPEAKER_01"),
        # Speaker changes inside a segment: word labels win over the segment's.
        seg(5.0, "Good. Me too", speakers=["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]),
    )


def late() -> Transcript:
    return transcript(
        seg(THREE_HOURS + 1.25, "three hours in"), seg(THREE_HOURS + 3725.5, "and more")
    )


def empty() -> Transcript:
    return Transcript()


SAMPLES = {"plain": plain, "spoken": spoken, "late": late, "empty": empty}

OPTION_SETS = {
    "default": SubtitleOptions(),
    "wrapped": SubtitleOptions(max_line_width=16, max_line_count=2),
    "width-only": SubtitleOptions(max_line_width=12),
    "karaoke": SubtitleOptions(max_line_width=20, max_line_count=1, highlight_words=True),
    "bounded": SubtitleOptions(max_cue_duration=1.0, min_cue_duration=0.8),
}

# ---------------------------------------------------------------- reading back


def times(cues: list[Cue]) -> list[tuple[int, int]]:
    return [(c.start_ms, c.end_ms) for c in cues]


def via_pysubs2(path: Path, fmt: str) -> list[tuple[int, int]]:
    return [(e.start, e.end) for e in pysubs2.load(str(path), format_=fmt)]


def via_webvtt(path: Path) -> list[tuple[int, int]]:
    def ms(stamp: webvtt.models.Timestamp) -> int:
        h, m, s, milli = stamp.to_tuple()
        return ((h * 60 + m) * 60 + s) * 1000 + milli

    return [(ms(c.start_time), ms(c.end_time)) for c in webvtt.read(str(path))]


def via_ffmpeg(path: Path) -> list[tuple[int, int]]:
    """Cue times as FFmpeg's demuxer reads them; every cue must decode to subtitle text."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream flush
            decoded = packet.decode()
            assert decoded and all(sub.dialogue for sub in decoded)
            base = packet.time_base
            out.append(
                (
                    round(packet.pts * base * 1000),
                    round((packet.pts + packet.duration) * base * 1000),
                )
            )
    return out


def written(
    tmp_path: Path, t: Transcript, fmt: str, options: SubtitleOptions | None = None
) -> Path:
    path = tmp_path / f"out.{fmt}"
    write(t, fmt, path, options)
    return path


# ---------------------------------------------------------------- JSON, TXT, TSV


@pytest.mark.parametrize("name", SAMPLES)
def test_json_round_trips(tmp_path: Path, name: str) -> None:
    t = SAMPLES[name]()
    raw = written(tmp_path, t, "json").read_bytes()
    assert Transcript.from_dict(json.loads(raw.decode("utf-8"))) == t
    assert json.loads(raw)["segments"] == t.to_dict()["segments"]


def test_json_keeps_unicode_unescaped() -> None:
    text = render(plain(), "json")
    assert "Grüße" in text and "東京" in text and "\\u" not in text
    assert "word_segments" in json.loads(text)


def test_txt_one_line_per_segment() -> None:
    assert render(plain(), "txt").splitlines() == [
        "Grüße aus Köln, naïve café 東京",
        "Tom & Jerry <3 say a < b > c --> d",
        f"the {LONG_WORD} spoke",
    ]


def test_txt_speaker_prefix() -> None:
    lines = render(spoken(), "txt").splitlines()
    assert lines[0] == "[SPEAKER_00]: Hello there, how are you?"
    assert lines[1] == "[SPEAKER_01]: Fine & you?"
    # No segment label: the label most of its words carry.
    assert lines[2] == "[SPEAKER_01]: Good. Me too"


def read_tsv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


def test_tsv_integer_ms_and_header() -> None:
    t = plain()
    rows = read_tsv(render(t, "tsv"))
    assert rows[0] == ["start", "end", "text"]
    assert len(rows) == 1 + len(t.segments)
    for row, segment in zip(rows[1:], t.segments, strict=True):
        assert row == [
            str(round(segment.start * 1000)),
            str(round(segment.end * 1000)),
            segment.text.strip(),
        ]


def test_tsv_speaker_column_only_with_speakers() -> None:
    rows = read_tsv(render(spoken(), "tsv"))
    assert rows[0] == ["start", "end", "text", "speaker"]
    assert [r[3] for r in rows[1:]] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert all(len(r) == 3 for r in read_tsv(render(plain(), "tsv")))


def test_tsv_flattens_tabs_and_newlines() -> None:
    t = Transcript(segments=[Segment(start=0, end=1, text="a\tb\nc")])
    assert read_tsv(render(t, "tsv"))[1] == ["0", "1000", "a b c"]


def test_tsv_late_times() -> None:
    rows = read_tsv(render(late(), "tsv"))
    assert rows[1][0] == "10801250"


# ---------------------------------------------------------------- SRT and VTT


@pytest.mark.parametrize("name", ["plain", "spoken", "late"])
@pytest.mark.parametrize("opts", OPTION_SETS)
def test_subtitles_accepted_by_real_parsers(tmp_path: Path, name: str, opts: str) -> None:
    t, options = SAMPLES[name](), OPTION_SETS[opts]
    expected = times(build_cues(t, options))
    assert expected
    srt = written(tmp_path, t, "srt", options)
    vtt = written(tmp_path, t, "vtt", options)
    assert via_pysubs2(srt, "srt") == expected
    assert via_pysubs2(vtt, "vtt") == expected
    assert via_webvtt(vtt) == expected
    assert via_ffmpeg(srt) == expected
    assert via_ffmpeg(vtt) == expected


def test_vtt_text_survives_escaping(tmp_path: Path) -> None:
    t = plain()
    path = written(tmp_path, t, "vtt")
    raw = path.read_text(encoding="utf-8")
    assert "Tom &amp; Jerry &lt;3 say a &lt; b &gt; c --&gt; d" in raw
    assert raw.count("-->") == len(build_cues(t))  # only the timing lines
    captions = [html.unescape(c.text) for c in webvtt.read(str(path))]
    assert captions == [c.text for c in build_cues(t)]
    assert captions[1] == "Tom & Jerry <3 say a < b > c --> d"
    with av.open(str(path)) as container:
        dialogue = [s.dialogue.decode() for p in container.demux() if p.size for s in p.decode()]
    assert dialogue[1] == "Tom & Jerry <3 say a < b > c --> d"


def test_srt_text_and_numbering() -> None:
    text = render(plain(), "srt")
    blocks = text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["1", "2", "3"]
    assert blocks[0].splitlines()[2] == "Grüße aus Köln, naïve café 東京"
    # SRT cannot escape, but a timing arrow in the text would split the cue for some readers.
    assert blocks[1].splitlines()[2] == "Tom & Jerry <3 say a < b > c -> d"
    assert text.endswith("d\n\n3\n00:00:09,000 --> 00:00:10,150\nthe " + LONG_WORD + " spoke\n")


def test_speaker_marks(tmp_path: Path) -> None:
    t = spoken()
    cues = build_cues(t)
    # The segment with a speaker change becomes two cues.
    assert [c.speaker for c in cues] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01"]
    srt = render(t, "srt").split("\n\n")
    assert srt[0].splitlines()[2] == "[SPEAKER_00] Hello there, how are you?"
    assert srt[3].splitlines()[2] == "[SPEAKER_01] Me too"
    vtt = render(t, "vtt")
    assert "<v SPEAKER_01>Fine &amp; you?" in vtt
    voices = [c.voice for c in webvtt.read(str(written(tmp_path, t, "vtt")))]
    assert voices == [c.speaker for c in cues]


def test_timestamp_formats() -> None:
    t = late()
    srt, vtt = render(t, "srt"), render(t, "vtt")
    assert "03:00:01,250 --> 03:00:02,400" in srt
    assert "03:00:01.250 --> 03:00:02.400" in vtt
    assert "04:02:05,500 --> " in srt


def test_hours_past_99(tmp_path: Path) -> None:
    t = transcript(seg(101 * 3600 + 0.5, "far out"))
    assert "101:00:00,500 --> 101:00:01,250" in render(t, "srt")
    expected = times(build_cues(t))
    assert via_webvtt(written(tmp_path, t, "vtt")) == expected
    assert via_ffmpeg(written(tmp_path, t, "srt")) == expected
    assert via_ffmpeg(written(tmp_path, t, "vtt")) == expected


def test_empty_transcript_writes_valid_empty_files(tmp_path: Path) -> None:
    t = empty()
    assert render(t, "srt") == ""
    assert render(t, "vtt") == "WEBVTT\n"
    assert render(t, "tsv") == "start\tend\ttext\n"
    assert render(t, "txt") == ""
    assert via_pysubs2(written(tmp_path, t, "srt"), "srt") == []
    vtt = written(tmp_path, t, "vtt")
    assert via_webvtt(vtt) == [] and via_pysubs2(vtt, "vtt") == []
    assert via_ffmpeg(vtt) == []


def test_no_empty_cues() -> None:
    t = Transcript(
        segments=[
            Segment(start=0, end=1, text="   "),
            Segment(start=1, end=2, text=" ", words=[Word(word=" ", start=1, end=2, score=1)]),
            Segment(start=2, end=3, text="real"),
        ]
    )
    assert [c.text for c in build_cues(t)] == ["real"]
    assert render(t, "txt") == "real\n"


def test_segments_without_word_times() -> None:
    t = Transcript(segments=[Segment(start=0, end=4, text=" one two three four")])
    cues = build_cues(t, SubtitleOptions(max_line_width=8, max_line_count=1))
    assert [c.text for c in cues] == ["one two", "three", "four"]
    assert cues[0].start_ms == 0 and cues[-1].end_ms == 4000
    assert times(cues) == sorted(times(cues))


def test_languages_without_spaces() -> None:
    t = Transcript(
        language="zh",
        segments=[Segment(start=0, end=6, text="今天天气很好我们去公园")],
    )
    cues = build_cues(t, SubtitleOptions(max_line_width=4, max_line_count=1))
    assert [c.text for c in cues] == ["今天天气", "很好我们", "去公园"]


# ---------------------------------------------------------------- subtitle options


def words_of(cue: Cue) -> list[str]:
    return cue.text.split()


def test_cue_per_segment_by_default() -> None:
    t = plain()
    cues = build_cues(t)
    assert [c.text for c in cues] == [" ".join(s.text.split()) for s in t.segments]


def test_line_width_respected() -> None:
    t = plain()
    cues = build_cues(t, SubtitleOptions(max_line_width=10))
    lines = [line for c in cues for line in c.text.split("\n")]
    assert any(line == LONG_WORD for line in lines)  # too long, so alone on its line
    assert all(len(line) <= 10 for line in lines if line != LONG_WORD)
    assert len(lines) > len(cues)  # it did wrap
    # Width alone keeps a cue per segment.
    assert len(cues) == len(t.segments)


def test_line_count_respected_and_packs_across_segments() -> None:
    t = transcript(seg(0, "a b c"), seg(2, "d e f"), seg(4, "g h i"))
    cues = build_cues(t, SubtitleOptions(max_line_width=3, max_line_count=2))
    assert [c.text for c in cues] == ["a b\nc d", "e f\ng h", "i"]
    wider = build_cues(t, SubtitleOptions(max_line_width=11, max_line_count=1))
    assert [c.text for c in wider] == ["a b c d e f", "g h i"]


def test_long_pause_starts_new_cue() -> None:
    t = transcript(seg(0, "before the"), seg(5, "pause"))
    options = SubtitleOptions(max_line_width=40, max_line_count=2)
    assert [c.text for c in build_cues(t, options)] == ["before the", "pause"]
    no_split = SubtitleOptions(max_line_width=40, max_line_count=2, pause_split=None)
    assert [c.text for c in build_cues(t, no_split)] == ["before the pause"]


def test_max_cue_duration_bounds_cues() -> None:
    t = transcript(seg(0, " ".join(f"w{i}" for i in range(20)), step=0.5))
    cues = build_cues(t, SubtitleOptions(max_cue_duration=2.0))
    assert len(cues) > 1
    assert all(c.end_ms - c.start_ms <= 2000 for c in cues)
    assert sum(len(words_of(c)) for c in cues) == 20
    # A single word longer than the limit is cut short rather than dropped.
    long = Transcript(segments=[seg(0, "loooong", step=9.0)])
    (cue,) = build_cues(long, SubtitleOptions(max_cue_duration=2.0))
    assert (cue.start_ms, cue.end_ms) == (0, 2000)


def test_min_cue_duration_extends_without_overlap() -> None:
    t = transcript(
        seg(0.0, "hi", step=0.3),  # 0.25 s, 1.75 s of silence after it
        seg(2.0, "yo", step=0.3),  # 0.25 s, next cue 0.4 s later
        seg(2.65, "ok", step=0.3),
    )
    cues = build_cues(t, SubtitleOptions(min_cue_duration=1.0))
    assert times(cues) == [(0, 1000), (2000, 2650), (2650, 3650)]
    # The last cue may not run past the end of the audio.
    t.duration = 3.2
    assert build_cues(t, SubtitleOptions(min_cue_duration=1.0))[-1].end_ms == 3200


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_highlight_one_cue_per_word(tmp_path: Path, fmt: str) -> None:
    t = spoken()
    options = SubtitleOptions(highlight_words=True)
    path = written(tmp_path, t, fmt, options)
    events = pysubs2.load(str(path), format_=fmt)
    assert len(events) == len(t.word_segments)
    raw = path.read_text(encoding="utf-8")
    blocks = raw.split("\n\n")[1:] if fmt == "vtt" else raw.split("\n\n")
    assert len(blocks) == len(t.word_segments)
    assert all(block.count("<u>") == 1 and block.count("</u>") == 1 for block in blocks)
    underlined = [b.split("<u>")[1].split("</u>")[0] for b in blocks]
    expected = [w.word for w in t.word_segments]
    if fmt == "vtt":
        expected = [w.replace("&", "&amp;") for w in expected]
    assert underlined == expected
    # Each word's cue lasts until the next word starts, within its own cue group.
    cues = build_cues(t, options)
    assert cues[0].start_ms == 0 and cues[0].end_ms == 400


def test_invalid_options() -> None:
    for bad in [
        {"max_line_width": 0},
        {"max_line_count": 2},  # needs a width
        {"max_line_width": 10, "max_line_count": 0},
        {"max_cue_duration": 0},
        {"min_cue_duration": -1},
        {"min_cue_duration": 3, "max_cue_duration": 2},
        {"pause_split": 0},
    ]:
        with pytest.raises(ValueError):
            SubtitleOptions(**bad)  # type: ignore[arg-type]


def random_transcript(rng: random.Random) -> Transcript:
    segments, clock = [], rng.uniform(0, 5)
    speakers = [None, "A", "B"] if rng.random() < 0.5 else [None]
    for _ in range(rng.randint(0, 12)):
        words = []
        for _ in range(rng.randint(0, 15)):
            # Overlapping, zero-length and backwards word times all happen in real output.
            clock = max(0.0, clock + rng.choice([rng.uniform(-0.3, 0.8), 0.0, rng.uniform(0, 5)]))
            length = rng.choice([0.0, rng.uniform(0, 1.5), rng.uniform(0, 12)])
            text = "".join(rng.choice("abcdéfg東&<>") for _ in range(rng.choice([1, 3, 7, 30])))
            space = " " if rng.random() < 0.8 else ""
            words.append(
                Word(
                    word=space + text,
                    start=clock,
                    end=clock + length,
                    score=0.5,
                    speaker=rng.choice(speakers),
                )
            )
        start = words[0].start if words else clock
        end = max([w.end for w in words], default=clock + 2)
        text = " ".join(w.word.strip() for w in words) or rng.choice(["", "x y z", "   "])
        segments.append(
            Segment(start=start, end=end, text=text, words=words, speaker=rng.choice(speakers))
        )
    return Transcript(segments=segments, duration=rng.choice([0.0, clock + 3]))


def random_options(rng: random.Random) -> SubtitleOptions:
    width = rng.choice([None, 1, 5, 20, 42])
    max_duration = rng.choice([None, 0.5, 2.0, 7.0])
    return SubtitleOptions(
        max_line_width=width,
        max_line_count=None if width is None else rng.choice([None, 1, 2, 3]),
        highlight_words=rng.random() < 0.3,
        max_cue_duration=max_duration,
        min_cue_duration=rng.choice([0.0, 0.3, min(max_duration or 1.5, 1.5)]),
        pause_split=rng.choice([None, 0.5, 3.0]),
    )


@pytest.mark.parametrize("seed", range(300))
def test_cue_invariants_randomized(seed: int) -> None:
    rng = random.Random(seed)
    t, options = random_transcript(rng), random_options(rng)
    cues = build_cues(t, options)
    limit = round(t.duration * 1000) if t.duration > 0 else None
    for index, cue in enumerate(cues):
        following = cues[index + 1] if index + 1 < len(cues) else None
        assert cue.start_ms >= 0 and cue.end_ms > cue.start_ms
        assert cue.text.strip()
        if following is not None:
            assert cue.end_ms <= following.start_ms  # monotone and non-overlapping
        if options.max_cue_duration is not None:
            assert cue.end_ms - cue.start_ms <= round(options.max_cue_duration * 1000)
        if options.min_cue_duration and cue.end_ms - cue.start_ms < options.min_cue_duration * 1000:
            boundary = following.start_ms if following is not None else limit
            # Too short only where the next cue or the end of the audio stopped it.
            assert boundary is not None and cue.end_ms >= boundary
        lines = cue.text.split("\n")
        if options.max_line_width is not None:
            assert all(len(line) <= options.max_line_width or " " not in line for line in lines)
        if options.max_line_count is not None:
            assert len(lines) <= options.max_line_count
        if options.highlight_words:
            assert cue.highlight is not None
            assert "".join(cue.render_lines()).count("<u>") == 1
    # Every word shows up, once, in order.
    words = [w.word.strip() for s in t.segments for w in s.words]
    words += [x for s in t.segments if not s.words for x in s.text.split()]
    if options.highlight_words:
        assert len(cues) == sum(1 for s in t.segments for w in s.words if w.word.strip()) + sum(
            len(s.text.split()) for s in t.segments if not s.words
        )
    elif all(s.words or not s.text.strip() for s in t.segments):
        assert [w for c in cues for w in c.text.split()] == " ".join(words).split()


@pytest.mark.parametrize("seed", range(20))
def test_randomized_subtitles_parse_back(tmp_path: Path, seed: int) -> None:
    rng = random.Random(1000 + seed)
    t, options = random_transcript(rng), random_options(rng)
    expected = times(build_cues(t, options))
    if not expected:
        return
    vtt = written(tmp_path, t, "vtt", options)
    assert via_pysubs2(written(tmp_path, t, "srt", options), "srt") == expected
    assert via_webvtt(vtt) == expected
    assert via_ffmpeg(vtt) == expected


# ---------------------------------------------------------------- RTTM


def test_rttm_turns() -> None:
    text = render(spoken(), "rttm", uri="my meeting")
    rows = [line.split() for line in text.splitlines()]
    assert all(len(r) == 10 and r[0] == "SPEAKER" and r[1] == "my_meeting" for r in rows)
    assert all(
        r[2] == "1" and r[5:7] == ["<NA>", "<NA>"] and r[8:] == ["<NA>", "<NA>"] for r in rows
    )
    turns = [(r[7], float(r[3]), round(float(r[3]) + float(r[4]), 3)) for r in rows]
    assert turns == [
        ("SPEAKER_00", 0.0, 1.95),
        ("SPEAKER_01", 3.0, 4.15),
        ("SPEAKER_00", 5.0, 5.35),
        ("SPEAKER_01", 5.4, 6.15),
    ]


def test_rttm_is_the_diarizers_turns_when_there_are_any() -> None:
    # Speech without transcribed words (a backchannel at 2.0 s, overlap at 5.2 s) is in the
    # diarizer's turns: the RTTM writes those, while JSON and subtitles keep word speakers.
    turns = [
        SpeakerTurn(start=5.0, end=6.2, speaker="SPEAKER_01"),
        SpeakerTurn(start=0.0, end=2.0, speaker="SPEAKER_00"),
        SpeakerTurn(start=2.0, end=2.4, speaker="SPEAKER_01"),
        SpeakerTurn(start=3.0, end=4.2, speaker="SPEAKER_01"),
        SpeakerTurn(start=5.0, end=5.4, speaker="SPEAKER_00"),
    ]
    t = spoken().model_copy(update={"speaker_turns": turns})
    rows = [line.split() for line in render(t, "rttm", uri="call").splitlines()]
    assert [(r[7], float(r[3]), float(r[4])) for r in rows] == [
        ("SPEAKER_00", 0.0, 2.0),
        ("SPEAKER_01", 2.0, 0.4),
        ("SPEAKER_01", 3.0, 1.2),
        ("SPEAKER_00", 5.0, 0.4),
        ("SPEAKER_01", 5.0, 1.2),
    ]
    assert render(t, "srt") == render(spoken(), "srt")
    data = json.loads(render(t, "json"))
    assert [w.get("speaker") for w in data["word_segments"]] == [
        w.speaker for w in spoken().word_segments
    ]
    assert Transcript.from_dict(data).speaker_turns == t.speaker_turns
    # A speaker the diarizer found but who said no transcribed word still counts.
    quiet = plain().model_copy(update={"speaker_turns": turns[:1]})
    assert quiet.speakers == ["SPEAKER_01"] and "rttm" in resolve_formats("all", quiet)


def test_rttm_needs_speakers() -> None:
    with pytest.raises(NoSpeakersError, match="speaker"):
        render(plain(), "rttm")
    with pytest.raises(ValueError):
        render(empty(), "rttm")


# ---------------------------------------------------------------- API


def test_formats_and_content_types() -> None:
    assert set(FORMATS) == {"json", "txt", "tsv", "srt", "vtt", "rttm"}
    assert (*FORMATS, "all") == FORMAT_CHOICES
    assert content_type("json") == "application/json"
    assert content_type("vtt") == "text/vtt; charset=utf-8"
    assert content_type("srt") == "application/x-subrip; charset=utf-8"
    assert content_type("tsv") == "text/tab-separated-values; charset=utf-8"
    assert content_type("txt") == "text/plain; charset=utf-8"


def test_unknown_format_names_valid_ones() -> None:
    for call in (lambda: render(plain(), "docx"), lambda: content_type("all")):
        with pytest.raises(ValueError, match="json, txt, tsv, srt, vtt, rttm"):
            call()


def test_write_to_streams() -> None:
    text_stream, byte_stream = io.StringIO(), io.BytesIO()
    write(plain(), "txt", text_stream)
    write(plain(), "txt", byte_stream)
    assert (
        byte_stream.getvalue().decode("utf-8") == text_stream.getvalue() == render(plain(), "txt")
    )


def test_write_all(tmp_path: Path) -> None:
    paths = write_all(plain(), tmp_path / "new", "talk", "all")
    assert [p.name for p in paths] == [f"talk.{f}" for f in FORMATS if f != "rttm"]
    with_speakers = write_all(spoken(), tmp_path, "chat", ["srt", "all", "SRT"])
    assert [p.name for p in with_speakers] == [
        f"chat.{f}" for f in ("srt", "json", "txt", "tsv", "vtt", "rttm")
    ]
    assert (tmp_path / "chat.rttm").read_text().split()[1] == "chat"
    for path in with_speakers:
        assert path.read_text(encoding="utf-8") == render(spoken(), path.suffix[1:], uri="chat")


def test_write_all_fails_before_writing(tmp_path: Path) -> None:
    with pytest.raises(NoSpeakersError):
        write_all(plain(), tmp_path, "talk", ["txt", "rttm"])
    with pytest.raises(ValueError, match="valid"):
        write_all(plain(), tmp_path, "talk", ["txt", "pdf"])
    assert list(tmp_path.iterdir()) == []

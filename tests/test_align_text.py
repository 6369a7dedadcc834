"""Text -> CTC tokens (hark.align.text) and words/interpolation (hark.align.words)."""

from __future__ import annotations

import numpy as np
import pytest

from hark.align.text import WILDCARD, Vocabulary, prepare_text, word_spans
from hark.align.words import fallback_times, finish_words, interpolate
from hark.dev.fixtures.aligner import ENGLISH_VOCAB
from hark.schema import Word

VOCAB = Vocabulary.from_tokens(ENGLISH_VOCAB)


def test_vocabulary_from_wav2vec2_base_960h() -> None:
    assert VOCAB.blank_id == 0
    assert VOCAB.delimiter_id == 4
    assert VOCAB.ids["e"] == 5 and VOCAB.ids["'"] == 27
    assert "<unk>" not in VOCAB.ids and "|" not in VOCAB.ids
    assert set(VOCAB.letter_ids.tolist()) == set(range(5, 32))


def test_lower_case_vocabulary_and_explicit_blank() -> None:
    vocab = Vocabulary.from_tokens({"[PAD]": 3, "a": 0, "b": 1, " ": 2}, delimiter=" ")
    assert vocab.blank_id == 3 and vocab.delimiter_id == 2
    assert vocab.columns("A") == (0,)


def test_characters_map_to_columns_wildcards_or_nothing() -> None:
    c = VOCAB.columns
    assert c("A") == c("a") == (7,)
    assert c("’") == c("'")  # typographic apostrophe
    assert c("é") == c("e")  # accents fall back to the base letter
    for spoken in "1$€%&@+£°ß中":
        assert c(spoken) == (WILDCARD,), spoken
    for silent in '.,!?;:"()-—… \t♪*':
        assert c(silent) is None, silent


def test_prepare_text_words_tokens_and_delimiters() -> None:
    prepared = prepare_text(" It cost 1,250 dollars!", VOCAB)
    words = [prepared.text[a:b] for a, b in prepared.words]
    assert words == ["It", "cost", "1,250", "dollars!"]
    i, t, bar = VOCAB.ids["i"], VOCAB.ids["t"], VOCAB.delimiter_id
    assert prepared.tokens[:3].tolist() == [i, t, bar]
    assert prepared.optional.tolist().count(True) == 3  # one delimiter between each word
    # "1,250": four wildcards (the comma is not spoken), each tied to its character.
    number = prepared.tokens[prepared.token_chars >= prepared.text.index("1")][:4]
    assert number.tolist() == [WILDCARD] * 4
    assert prepared.text[prepared.token_chars[-1]] == "s"


def test_punctuation_only_word_gets_no_tokens() -> None:
    prepared = prepare_text("well — yes", VOCAB)
    assert len(prepared.words) == 3
    assert (prepared.token_chars != prepared.text.index("—")).all()
    assert prepared.optional.sum() == 1  # no delimiter next to the empty word


def test_spaceless_languages_split_per_character() -> None:
    spans = word_spans("我们用iPhone 15拍照。", spaces=False)
    words = ["我们用iPhone 15拍照。"[a:b] for a, b in spans]
    assert words == ["我", "们", "用", "iPhone", "15", "拍", "照", "。"]


def test_empty_text() -> None:
    prepared = prepare_text("   ", VOCAB)
    assert prepared.words == () and prepared.tokens.size == 0


# --- words -----------------------------------------------------------------------------------


def w(text: str, start: float, end: float, score: float = 0.5) -> Word:
    return Word(word=text, start=start, end=end, score=score)


def test_fallback_times_follow_whisper_words_through_different_tokenisation() -> None:
    text = " Hello, world. Again"
    spans = word_spans(text)
    starts, ends, scores = fallback_times(
        text, spans, [w(" Hello,", 1.0, 1.5, 0.9), w(" world.", 1.6, 2.0, 0.8)], 0.5, 3.0
    )
    assert starts[:2].tolist() == [1.0, 1.6] and ends[:2].tolist() == [1.5, 2.0]
    assert scores[:2].tolist() == pytest.approx([0.9, 0.8])
    # "Again" has no Whisper word: placed between the last known time and the segment end.
    assert 2.0 <= starts[2] <= ends[2] <= 3.0 and scores[2] == 0.0


def test_fallback_times_without_whisper_words_spread_over_the_segment() -> None:
    text = "one two three"
    starts, ends, _ = fallback_times(text, word_spans(text), [], 10.0, 11.3)
    assert starts[0] == 10.0 and ends[-1] == 11.3
    assert np.all(np.diff(starts) > 0) and np.all(ends >= starts)


@pytest.mark.parametrize("method", ["nearest", "linear", "ignore"])
def test_interpolate_fills_every_gap_in_order(method: str) -> None:
    text = "a — b c — d"
    spans = word_spans(text)
    nan = np.nan
    starts = np.array([1.0, nan, 2.0, 3.0, nan, 4.0])
    ends = np.array([1.5, nan, 2.5, 3.5, nan, 4.5])
    fallback = (np.linspace(0.5, 4.0, 6), np.linspace(0.7, 4.2, 6))
    s, e = interpolate(starts, ends, spans, method, fallback, 0.0, 5.0)  # type: ignore[arg-type]
    assert np.isfinite(s).all() and np.isfinite(e).all()
    assert np.all(np.diff(s) >= 0) and np.all(np.diff(e) >= 0) and np.all(e >= s)
    if method == "nearest":
        assert (s[1], e[1]) == (1.0, 1.5)
    elif method == "linear":
        assert 1.5 <= s[1] <= e[1] <= 2.0
        assert 3.5 <= s[4] <= e[4] <= 4.0


def test_finish_words_marks_interpolated_and_keeps_scores() -> None:
    text = "go — now"
    spans = word_spans(text)
    nan = np.nan
    aligned = (np.array([0.1, nan, 0.6]), np.array([0.3, nan, 0.9]), np.array([0.8, nan, 0.4]))
    fallback = (np.array([0.0, 0.4, 0.5]), np.array([0.3, 0.5, 1.0]), np.array([0.9, 0.7, 0.9]))
    words = finish_words(text, spans, aligned, fallback, "nearest", 0.0, 1.0)
    assert [x.word for x in words] == ["go", "—", "now"]
    assert [x.interpolated for x in words] == [None, True, None]
    assert words[0].score == pytest.approx(0.8) and words[1].score == pytest.approx(0.7)

"""The word error measure the accuracy tests and benchmarks use (`hark.dev.accuracy`)."""

from __future__ import annotations

from hark.dev.accuracy import align_words, error_spans, normalize_words


def test_errors_are_counted_and_shown_as_spans() -> None:
    reference = normalize_words("Neither did I. Okay, then I thought, you know...")
    heard = normalize_words("Needs a design. Okay, I thought, um, you know")
    errors = align_words(reference, heard)
    assert (errors.substitutions, errors.deletions, errors.insertions) == (3, 1, 1)
    assert errors.rate == 5 / len(reference)
    assert error_spans(reference, heard, errors) == [
        "neither did i -> needs a design",
        "then -> ",
        " -> um",
    ]
    same = align_words(reference, reference)
    assert same.errors == 0 and error_spans(reference, reference, same) == []
    # Errors at both ends are spans too.
    tail = align_words(["a", "b"], ["c", "b", "d"])
    assert error_spans(["a", "b"], ["c", "b", "d"], tail) == ["a -> c", " -> d"]

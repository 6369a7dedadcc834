"""Unknown keys named back to the client with what was probably meant ("did you mean ...?").

One wording for every surface that refuses keys it does not know: the jobs input (`/run`,
`/runsync`, RunPod), `/asr` and the OpenAI routes.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

# Keys listed in one message; the rest are counted.
MAX_LISTED = 10


def unknown_keys_message(
    unknown: Sequence[str],
    valid: Sequence[str],
    *,
    what: str,
    valid_label: str,
    renamed: Mapping[str, str] | None = None,
) -> str:
    """ "unknown `what`s 'a' (did you mean 'b'?), ...; `valid_label`: x, y, ...".

    `renamed` maps a lower-cased key other software uses to advice that replaces the spelling
    suggestion (e.g. "url" -> "use audio_url").
    """
    names = []
    for key in unknown[:MAX_LISTED]:
        hint = (renamed or {}).get(key.lower())
        if hint is None and (close := difflib.get_close_matches(key, valid, n=1, cutoff=0.7)):
            hint = f"did you mean {close[0]!r}?"
        names.append(_shorten(key) + (f" ({hint})" if hint else ""))
    if len(unknown) > MAX_LISTED:
        names.append(f"and {len(unknown) - MAX_LISTED} more")
    noun = what if len(unknown) == 1 else what + "s"
    return f"unknown {noun} {', '.join(names)}; {valid_label}: {', '.join(valid)}"


def _shorten(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")

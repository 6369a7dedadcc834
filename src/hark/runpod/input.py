"""The worker's input schema in the RunPod SDK's own `rp_validator` format.

The SDK validator is the first gate, as RunPod workers are expected to use it: it rejects keys
that are not options and values that are not plain JSON. `JobInput` (pydantic) then does the
real parsing, with the messages that say what to fix ("did you mean ...?").
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hark.jobs.errors import JobInputError
from hark.jobs.input import JobInput

# Any JSON value: the precise types and ranges are JobInput's to check (it also accepts
# "0,0.2" for a list, or 0 for a float), so the SDK gate only refuses what is not JSON data.
_JSON_TYPES = (str, int, float, bool, list, dict, type(None))


@cache
def runpod_schema() -> dict[str, dict[str, Any]]:
    """`{key: {"type", "required", "default"}}` for every key `JobInput` accepts."""
    return {
        key: {"type": _JSON_TYPES, "required": False, "default": None}
        for key in JobInput.valid_keys()
    }


def validate_input(raw: Any) -> JobInput:
    """Check a job's `input` with the SDK's validator, then parse it; raises JobInputError."""
    from runpod.serverless.utils.rp_validator import validate

    if not isinstance(raw, dict):
        return JobInput.parse(raw)  # the same readable "must be a JSON object" error
    checked = validate(raw, dict(runpod_schema()))
    if "errors" in checked:
        try:  # prefer JobInput's message (it suggests the key that was meant) when it has one
            JobInput.parse(raw)
        except JobInputError:
            raise
        raise JobInputError("; ".join(checked["errors"]))
    return JobInput.parse(raw)

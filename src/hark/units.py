"""Byte sizes. Every `*_mb` setting (HARK_MAX_UPLOAD_MB, HARK_JOB_STORE_MAX_MB) counts MiB,
1024² bytes, and every size in a message is written in MiB: one unit on every surface (the HTTP
server, the jobs API and the RunPod worker), so one setting means one limit everywhere."""

from __future__ import annotations

MIB = 1024 * 1024


def mib_bytes(mib: float) -> int:
    """A `*_mb` setting in bytes."""
    return int(mib * MIB)


def format_mib(size: float) -> str:
    """A size in bytes for a message: "1.5 MiB"."""
    return f"{size / MIB:.1f} MiB"

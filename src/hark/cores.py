"""How many CPU cores this process may use (what every `cpu_threads=0` means)."""

from __future__ import annotations

import os


def default_cpu_threads() -> int:
    """The cores this process is allowed to run on (its affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1

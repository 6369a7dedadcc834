"""The RunPod serverless worker's entry point; the image runs `python main.py` from here.

    python main.py                      # run test_input.json (in the current directory) once
    python main.py --test_input '{"input": {"audio_url": "https://..."}}'
    python main.py --rp_serve_api       # local /run, /runsync, /status/{id} on localhost:8000

On RunPod (RUNPOD_WEBHOOK_GET_JOB set) the same command takes jobs from the endpoint's queue.
Configuration is by environment only: see docs/runpod.md.
"""

from __future__ import annotations

import logging

import runpod

from hark.runpod.config import hark_settings
from hark.runpod.handler import concurrency_modifier, get_worker, handler

logging.basicConfig(
    level=hark_settings().log_level.upper(),
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)
# Cold start: load the model now, before the first job is taken, never during one.
get_worker()

if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency_modifier})

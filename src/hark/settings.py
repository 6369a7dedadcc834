"""Process-wide settings, one pydantic class, read from `HARK_*` environment variables.

Containers configure Hark by environment alone (Helm ConfigMap/Secret, RunPod endpoint
variables). Per-request choices live in `hark.options.TranscribeOptions` instead.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is also an environment variable: `model` is `HARK_MODEL`, etc."""

    model_config = SettingsConfigDict(env_prefix="HARK_", env_file=None, extra="ignore")

    # -- models
    model: str = Field("small", description="Whisper model name, HF repo id or local dir.")
    device: str = Field("auto", description="auto, cpu or cuda.")
    device_index: int = Field(0, ge=0, description="GPU index.")
    compute_type: str = Field(
        "default", description="CTranslate2 compute type (default: int8 on CPU, float16 on CUDA)."
    )
    cpu_threads: int = Field(0, ge=0, description="CPU threads per decode (0: all).")
    num_workers: int = Field(1, ge=1, description="Concurrent decodes on the model.")
    model_idle_unload_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Unload an aligner or speaker model unused for this many seconds "
        "(default: keep them loaded).",
    )
    vad_threads: int = Field(
        0, ge=0, description="Threads of the Silero VAD session on CPU (0: cpu_threads or all)."
    )
    align_compute_type: Literal["auto", "float32", "int8"] = Field(
        "auto", description="Aligner network: auto (int8 copy on CPU, float on GPU)."
    )
    download_root: Path | None = Field(None, description="Model cache directory.")
    local_files_only: bool = Field(False, description="Never download models.")
    models_dir: Path | None = Field(
        None,
        description="Directory whose entries requests may name as align_model, diarize_model "
        "or embedding_model (by entry name, never by path).",
    )
    allowed_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Paths or Hugging Face ids requests may name as a model option, used as "
        "written (comma-separated).",
    )
    allow_model_downloads: bool = Field(
        False,
        description="Let requests name any Hugging Face id (owner/name) as a model option, "
        "downloaded on first use (not with local_files_only).",
    )

    # -- request defaults and limits
    batch_size: int | None = Field(
        None, ge=1, le=256, description="Default ASR batch size (at most 256, as per request)."
    )
    max_upload_mb: float = Field(
        1024.0, gt=0, description="Largest accepted upload, MiB (1024² bytes)."
    )
    max_audio_seconds: float = Field(4 * 3600.0, gt=0, description="Longest accepted audio.")
    url_timeout_s: float = Field(60.0, gt=0, description="Timeout fetching audio_url.")
    allow_private_urls: bool = Field(
        False, description="Let audio_url reach loopback/private addresses (trusted networks)."
    )

    # -- server
    host: str = Field("0.0.0.0", description="Address to bind.")
    port: int = Field(9080, ge=1, le=65535, description="Port to bind.")
    queue_size: int = Field(16, ge=1, description="Requests waiting for the model before 503.")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Bearer keys (comma-separated), each optionally named `name:key`; the name "
        "appears in logs and metrics and owns the key's jobs. Empty: open.",
    )
    open_health: bool = Field(True, description="/health and /ready without a key.")
    open_metrics: bool = Field(True, description="/metrics without a key.")
    log_level: str = Field("info", description="Logging level.")
    concurrency: int | None = Field(
        None,
        ge=1,
        description="Sync requests decoded at once, their chunks batched together by the "
        "scheduler (default: 8, one CPU batch; 16 on CUDA).",
    )
    request_timeout_s: float = Field(
        1800.0,
        ge=0,
        description="Deadline of one sync request's work (/asr, /v1/audio/...): past it, the "
        "work stops at its next batch and the request gets 504 (0: none).",
    )
    shutdown_grace_s: float = Field(
        25.0, gt=0, description="On SIGTERM, time to finish or re-queue running work."
    )

    # -- async jobs (/run, /status, ...)
    data_dir: Path = Field(
        default_factory=lambda: _default_data_dir(), description="Where the job database lives."
    )
    job_store: str | None = Field(
        None, description="sqlite:///path or redis://host:port/db (default: SQLite in data_dir)."
    )
    job_workers: int = Field(2, ge=0, description="Jobs this process runs at once (0: none).")
    job_lease_s: float = Field(
        30.0, gt=0, description="A running job whose worker is silent this long is re-queued."
    )
    job_max_attempts: int = Field(3, ge=1, description="Runs before a crashing job is FAILED.")
    job_timeout_s: float = Field(
        14400.0,
        ge=0,
        description="Execution limit per job, also the most a job's policy.executionTimeout may "
        "ask for (0: none).",
    )
    job_retention_s: float = Field(
        86400.0, gt=0, description="Finished jobs (and results) are purged after this long."
    )
    job_failed_audio_retention_s: float = Field(
        3600.0,
        ge=0,
        description="Uploaded audio of FAILED / TIMED_OUT jobs is kept this long for /retry.",
    )
    job_store_max_mb: float = Field(
        2048.0,
        ge=0,
        description="New jobs are refused with 507 once the job store holds this many MiB "
        "(1024² bytes; 0: none).",
    )
    runsync_wait_s: float = Field(90.0, gt=0, description="Default wait of /runsync.")
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key signing webhook bodies (X-Hark-Signature)."
    )
    webhook_attempts: int = Field(5, ge=1, description="Webhook deliveries tried per job.")
    webhook_backoff_s: float = Field(
        2.0, gt=0, description="First webhook retry delay; doubles per attempt."
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, description="Time limit of one webhook delivery attempt."
    )

    # -- live transcription (/v1/listen, /v1/realtime; docs/live.md)
    live_max_streams: int = Field(
        8, ge=0, description="Live streams open at once; more are refused (close 1013)."
    )
    live_result_ttl_s: float = Field(
        3600.0, gt=0, description="A finished live session's transcript is kept this long."
    )
    live_step_s: float = Field(
        1.0, ge=0.1, le=10, description="New audio between two decodes of a live buffer."
    )
    live_max_buffer_s: float = Field(
        20.0, ge=2, le=29, description="A live buffer this long is finalised (the cap)."
    )
    live_silence_s: float = Field(
        0.5, gt=0, le=10, description="A pause this long ends an utterance (finals are sent)."
    )
    live_beam_size: int = Field(
        1, ge=1, le=10, description="Beam size of live decodes (a stream may ask for another)."
    )
    live_final_beam_size: int = Field(
        5,
        ge=1,
        le=10,
        description="Beam size of the live decodes that make finals (pauses, the buffer cap, "
        "the end), when wider than the stream's: a second pass, at the decode made as a "
        "silence begins; 1 (or the stream's beam): no second pass.",
    )
    live_final_input: Literal["auto", "full", "short"] = Field(
        "auto",
        description="How the live decodes that make finals hear their window: 'full' as the "
        "files' chunks (a 30 s encoder input, no prompt; the long form's streaming WER "
        "+0.5 points over offline on average against +2.3 short, each final ~0.7 s slower "
        "on 2 CPU cores), 'short' (the window padded 10 s, prompted with the finalised "
        "text, as the interim decodes); 'auto': full on a GPU, and on a CPU where one 30 s "
        "encoding takes 0.5 s or less (timed once when the model loads), else short.",
    )
    live_commit: Literal["words", "sentences", "pauses"] = Field(
        "pauses",
        description="What a live stream finalises before a pause: 'words' (every word two "
        "decodes agree on, a sentence end makes a final), 'sentences' (agreed words up to a "
        "sentence end) or 'pauses' (nothing: finals at pauses and the buffer cap only).",
    )
    live_max_frame_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest WebSocket message accepted (close 1009)."
    )
    live_max_pending_s: float = Field(
        10.0,
        gt=0,
        description="Audio received and not yet processed, per stream; beyond it the oldest "
        "is dropped (overload=drop) or the socket is not read (overload=wait).",
    )
    live_overload: Literal["drop", "wait"] = Field(
        "drop",
        description="A live stream's default when it sends faster than it is processed: drop "
        "the oldest unprocessed audio (real-time sources), or wait (lossless back-pressure).",
    )
    live_ping_interval_s: float = Field(
        20.0, gt=0, description="WebSocket keepalive: a ping this often on every connection."
    )
    live_ping_timeout_s: float = Field(
        20.0,
        gt=0,
        description="WebSocket keepalive: a connection whose pong is this late is closed (1011), "
        "unless the server itself holds the client back (overload=wait).",
    )
    live_send_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A live client that takes no event for this long (it stopped reading) is "
        "dropped, freeing its slot.",
    )

    @field_validator("api_keys", "allowed_models", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def named_keys(self) -> list[tuple[str, str]]:
        """(name, key) of every API key: `name:key` entries keep their name, others are
        called `key-` and 8 hex digits of the key's SHA-256 (stable, and not the key)."""
        out = []
        for secret in self.api_keys:
            value = secret.get_secret_value()
            named = _NAMED_KEY.fullmatch(value)
            if named:
                out.append((named[1], named[2]))
            else:
                out.append((f"key-{hashlib.sha256(value.encode()).hexdigest()[:8]}", value))
        return out

    @property
    def job_store_url(self) -> str:
        return self.job_store or f"sqlite:///{self.data_dir / 'jobs.db'}"

    @property
    def sync_concurrency(self) -> int:
        if self.concurrency:
            return self.concurrency
        # Enough concurrent requests to fill one ASR batch: that is what batching needs.
        return self.batch_size or (16 if self.device == "cuda" else 8)

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Arguments for `hark.load_pipeline`."""
        return dict(
            model=self.model,
            device=self.device,
            device_index=self.device_index,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            num_workers=self.num_workers,
            vad_threads=self.vad_threads,
            align_compute_type=self.align_compute_type,
            download_root=self.download_root,
            local_files_only=self.local_files_only,
            model_idle_unload_s=self.model_idle_unload_s,
        )


# `name:key`: a short name made of letters, digits, `_.-`, then the key itself.
_NAMED_KEY = re.compile(r"([A-Za-z0-9_.-]{1,64}):(.+)", re.DOTALL)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "hark"

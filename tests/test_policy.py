"""The one request policy (hark.policy): limits from settings, applied alike by every surface.
The surfaces' answers to a refusal are in test_server_*.py, test_jobs_*.py, test_runpod_*.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hark.options import TranscribeOptions
from hark.policy import PolicyError, RequestPolicy
from hark.settings import Settings
from hark.units import MIB


def _policy(tmp_path: Path, **values: object) -> RequestPolicy:
    settings = Settings(data_dir=tmp_path, local_files_only=True, **values)  # type: ignore[arg-type]
    return RequestPolicy.from_settings(settings)


def test_limits_come_from_settings_in_mib(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path, max_upload_mb=1.5, url_timeout_s=7, allow_private_urls=True, batch_size=4
    )
    assert policy.max_upload_bytes == int(1.5 * MIB)
    fetcher = policy.fetcher()
    assert (fetcher.max_bytes, fetcher.timeout_s, fetcher.allow_private) == (
        int(1.5 * MIB),
        7,
        True,
    )
    assert policy.default_batch_size == 4


def test_duration_is_capped_never_raised(tmp_path: Path) -> None:
    policy = _policy(tmp_path, max_audio_seconds=60)
    assert policy.options(TranscribeOptions()).max_duration == 60
    assert policy.options(TranscribeOptions(max_duration=10)).max_duration == 10
    assert policy.options(TranscribeOptions(max_duration=600)).max_duration == 60


def test_batch_size_defaults_to_the_servers(tmp_path: Path) -> None:
    assert _policy(tmp_path, batch_size=4).options(TranscribeOptions()).batch_size == 4
    assert _policy(tmp_path, batch_size=4).options(TranscribeOptions(batch_size=2)).batch_size == 2
    assert _policy(tmp_path).options(TranscribeOptions()).batch_size is None
    with pytest.raises(ValueError, match="batch_size"):  # no default past the per-request cap
        Settings(data_dir=tmp_path, batch_size=257)


def test_models_outside_the_operators_list_are_one_policy_error(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "my-aligner").mkdir(parents=True)
    policy = _policy(tmp_path, models_dir=models)
    resolved = policy.options(TranscribeOptions(align_model="my-aligner"))
    assert resolved.align_model == str(models / "my-aligner")
    with pytest.raises(PolicyError) as info:
        policy.options(TranscribeOptions(diarize_model="/etc/passwd"))
    assert info.value.code == "invalid_parameter" and info.value.field == "diarize_model"
    assert "/etc/passwd" not in str(info.value)
    with pytest.raises(PolicyError):
        policy.check_models(TranscribeOptions(align_model="missing"))


def test_job_deadlines(tmp_path: Path) -> None:
    policy = _policy(tmp_path, job_timeout_s=100)
    assert policy.job_timeout() == 100
    assert policy.job_timeout(30) == 30  # a job may ask for less
    assert policy.job_timeout(300) == 100  # never more
    assert policy.job_deadline(5.0) == 105.0
    unlimited = _policy(tmp_path, job_timeout_s=0)
    assert unlimited.job_timeout() == 0 and unlimited.job_deadline(5.0) == math.inf
    assert unlimited.job_timeout(30) == 30

"""Property-based API testing: schemathesis requests built from /openapi.json never get a 5xx.

Runs against the strict server (one worker, small limits, private URLs refused, 3 s URL
timeout), so generated uploads and URLs stay cheap; real audio is never generated, so no
heavy transcription runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from test_server_limits import strict_server
from test_server_support import Server


@pytest.fixture(scope="module")
def strict(test_models: Path) -> Server:
    return strict_server(test_models)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_server_errors(strict: Server, mode: schemathesis.GenerationMode) -> None:
    # Loaded by hand: schemathesis' lazy pytest fixture does not support this pytest version.
    schema = schemathesis.openapi.from_url(f"{strict.url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=strict.url, headers=strict.headers, timeout=30)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, f"{where}: {response.text}"

        try:
            check()
        except AssertionError as exc:
            failures.append(str(exc)[:1000])
    assert not failures, "\n".join(failures)

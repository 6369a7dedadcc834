"""The Grafana dashboard (deploy/grafana/hark.json) and the chart's alert rules use only
metrics a real `hark serve` exports: a server is started on loopback with the test model, one
transcription is sent, /metrics is scraped and every metric name in every query is looked up.

The one exception is the "GPU memory used" panel: DCGM_FI_DEV_FB_USED comes from NVIDIA's DCGM
exporter (GPU Operator), not from Hark; no other panel may use a non-Hark metric."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support_deploy import CHART, DASHBOARD, EVERYTHING_ON, one, promql_metrics, render
from support_jobs import FAST_INPUT
from support_server import FAST, clip, shared_server

GPU_PANEL, GPU_METRIC = "GPU memory used", "DCGM_FI_DEV_FB_USED"


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and templating query."""
    out = [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            # label_values(SERIES, LABEL): only SERIES is PromQL.
            series = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            out.append((f"variable {var['name']}", series.group(1) if series else query))
    return out


@pytest.fixture(scope="module")
def exported(test_models: Path, shared_audio: Path) -> set[str]:
    """Sample names /metrics exposes after one transcription and one job (histograms as
    _bucket, _sum, _count; counters with _total)."""
    server = shared_server("deploy-grafana", test_models)
    audio = clip(shared_audio / "jfk.flac", 3.0)
    with server.client() as client:
        r = client.post("/asr", params={**FAST, "output": "json"}, files={"file": ("a.wav", audio)})
        assert r.status_code == 200, r.text
        client.get("/asr")  # an error too, so error series exist
        job = {"input": {"audio_base_64": base64.b64encode(audio).decode(), **FAST_INPUT}}
        done = client.post("/runsync", json=job, timeout=120).json()  # and job series
        assert done["status"] == "COMPLETED", done
        text = client.get("/metrics").text
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
    return names


def test_dashboard_shape() -> None:
    dash = dashboard()
    assert dash["uid"] == "hark" and dash["title"] == "Hark"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(p["title"].lower() for p in panels())
    topics = ("requests", "error", "latency", "realtime", "queue", "audio hours", "gpu memory")
    for topic in (*topics, "live streams", "live caption latency", "live lag"):
        assert topic in titles, topic
    for panel in panels():
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["expr"].strip()


def test_every_query_uses_exported_metrics(exported: set[str]) -> None:
    assert "hark_http_requests_total" in exported  # the scrape itself worked
    for where, expr in queries():
        used = promql_metrics(expr)
        assert used, f"{where}: no metric found in {expr}"
        if where == GPU_PANEL:
            assert used == {GPU_METRIC}, "the GPU panel uses DCGM's frame buffer metric only"
            continue
        unknown = used - exported
        assert not unknown, f"{where}: {sorted(unknown)} not in /metrics"


def test_only_the_gpu_panel_uses_a_foreign_metric() -> None:
    for where, expr in queries():
        for name in promql_metrics(expr):
            if not name.startswith("hark_"):
                assert (where, name) == (GPU_PANEL, GPU_METRIC), (where, name)


def test_alert_rules_use_exported_metrics(exported: set[str]) -> None:
    objects, _ = render(EVERYTHING_ON)
    rules = one(objects, "PrometheusRule")["spec"]["groups"][0]["rules"]
    for rule in rules:
        unknown = promql_metrics(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not in /metrics"


def test_queries_parse_with_promtool(tmp_path: Path) -> None:
    """promtool parses every dashboard query and alert (as rules, Grafana variables replaced
    by what Grafana would put there)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    rules = []
    for i, (_, expr) in enumerate(queries()):
        expr = expr.replace("$__rate_interval", "5m").replace("$__range", "6h")
        expr = re.sub(r"\$\w+", ".*", expr)
        rules.append({"record": f"hark:check_{i}", "expr": expr})
    objects, _ = render(EVERYTHING_ON)
    alerts = one(objects, "PrometheusRule")["spec"]["groups"]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}, *alerts]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_chart_ships_the_same_dashboard() -> None:
    # A chart cannot read files outside its directory, so it carries a copy.
    assert (CHART / "dashboards" / "hark.json").read_bytes() == DASHBOARD.read_bytes()
    objects, _ = render({"grafanaDashboard": {"enabled": True}})
    config_map = one(objects, "ConfigMap", "hark-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["hark.json"]) == dashboard()


def test_autoscaling_metrics_are_exported(exported: set[str]) -> None:
    """The HPA's queue and job-backlog metrics (through prometheus-adapter) exist."""
    import yaml

    autoscaling = yaml.safe_load((CHART / "values.yaml").read_text())["autoscaling"]
    for name in (autoscaling["queueDepthMetricName"], autoscaling["jobsQueuedMetricName"]):
        assert name in exported, name

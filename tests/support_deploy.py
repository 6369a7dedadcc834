"""Helpers for the deployment tests: render the Helm chart with Helm's own Go SDK (the
`helm-python-sdk` wheel; no helm binary, no cluster), the app's real routes and settings, and
the metric names a PromQL expression uses. No tests here."""

from __future__ import annotations

import functools
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from hark.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "hark"
ARGOCD = ROOT / "deploy" / "argocd"
DASHBOARD = ROOT / "deploy" / "grafana" / "hark.json"
ENVIRONMENTS = ("development", "staging", "production")
RELEASE, NAMESPACE = "hark", "stt"

# The value sets every chart test renders: the defaults, each ArgoCD environment, and the
# switches that change which objects exist.
EVERYTHING_ON: dict[str, Any] = {
    "ingress": {"enabled": True},
    "redis": {"enabled": True},
    "autoscaling": {"enabled": True, "metric": "queue"},
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "grafanaDashboard": {"enabled": True},
    "secret": {"apiKeys": ["k1", "k2"], "hfToken": "hf_x", "webhookSecret": "w"},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "gpu-off": {"gpu": {"enabled": False}, "config": {"device": "cpu"}},
    "redis-on": {"redis": {"enabled": True}},
    "redis-url": {"redis": {"url": "redis://redis.example:6379/1"}},
    "ingress-on": {"ingress": {"enabled": True, "className": "nginx"}},
    "hpa-cpu": {"autoscaling": {"enabled": True}, "config": {"job_store": "redis://r:6379/0"}},
    "hpa-jobs": {"autoscaling": {"enabled": True, "metric": "jobs"}, "redis": {"enabled": True}},
    "cache-emptydir": {"modelCache": {"type": "emptyDir"}},
    "cache-image": {"modelCache": {"type": "image"}, "config": {"local_files_only": True}},
    "everything": EVERYTHING_ON,
}


def env_values(environment: str) -> dict[str, Any]:
    return yaml.safe_load((ARGOCD / f"values-{environment}.yaml").read_text())


def all_variants() -> dict[str, dict[str, Any]]:
    return {**VARIANTS, **{f"argocd-{e}": env_values(e) for e in ENVIRONMENTS}}


@functools.cache
def _chart() -> Any:
    import helm_python as helm

    return helm.Chart.load(CHART)


def merged_values(values: dict[str, Any]) -> dict[str, Any]:
    """The values a release would use (chart defaults coalesced with `values`)."""
    return _chart().merge_values(values)  # type: ignore[no-any-return]


def render(values: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """(every rendered Kubernetes object, NOTES.txt) for `values`."""
    rendered = _chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects, notes


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}"
    return found[0]


# -- the app


@functools.cache
def _app() -> Any:
    from hark.server import create_app

    return create_app(Settings(model="unused"))  # the model only loads when it serves


def serves_get(path: str) -> bool:
    """Whether the real FastAPI app has a GET route for `path` (the routing decides, so
    routes outside the OpenAPI schema count too)."""
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": []}
    scope["query_string"] = b""
    return any(r.matches(scope)[0] is Match.FULL for r in _app().router.routes)


def secret_fields() -> set[str]:
    """Settings fields holding secrets (SecretStr, or a list of them)."""
    out = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        args = {annotation, *typing.get_args(annotation)}
        for arg in list(args):
            args.update(typing.get_args(arg))
        if SecretStr in args:
            out.add(name)
    return out


def env_name(field: str) -> str:
    return f"HARK_{field.upper()}"


# -- PromQL

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (Grafana variables allowed): every identifier that
    is not a function, keyword, label name, label value or duration."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # other Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names

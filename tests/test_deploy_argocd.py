"""The ArgoCD Applications (deploy/argocd/application.yaml): each points at the chart in this
repository and at a values file that exists (the chart tests render every one of them)."""

from __future__ import annotations

import yaml

from support_deploy import ARGOCD, CHART, ENVIRONMENTS, ROOT, env_values, merged_values


def applications() -> list[dict]:  # type: ignore[type-arg]
    text = (ARGOCD / "application.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_one_application_per_environment() -> None:
    apps = applications()
    assert [a["metadata"]["name"] for a in apps] == [f"hark-{e}" for e in ENVIRONMENTS]
    for app, environment in zip(apps, ENVIRONMENTS, strict=True):
        assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
        source = app["spec"]["source"]
        chart_dir = ROOT / source["path"]
        assert chart_dir.resolve() == CHART.resolve()
        (values_file,) = source["helm"]["valueFiles"]
        # ArgoCD resolves value files relative to the chart's path, inside the repository.
        resolved = (chart_dir / values_file).resolve()
        assert resolved == (ARGOCD / f"values-{environment}.yaml").resolve()
        assert ROOT.resolve() in resolved.parents
        destination = app["spec"]["destination"]
        assert destination["namespace"] == f"hark-{environment}"
        assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
    # Production is synced by hand, from a pinned tag.
    production = apps[-1]
    assert "automated" not in production["spec"]["syncPolicy"]
    assert production["spec"]["source"]["targetRevision"].startswith("v")


def test_environment_values_are_valid_and_distinct() -> None:
    import helm_python as helm

    chart = helm.Chart.load(CHART)
    merged = {e: merged_values(env_values(e)) for e in ENVIRONMENTS}
    for values in merged.values():
        chart.validate_schema(values)
    assert merged["development"]["gpu"]["enabled"] is False
    assert merged["production"]["gpu"]["enabled"] is True
    assert merged["production"]["autoscaling"]["enabled"] is True
    assert merged["production"]["config"]["local_files_only"] is True
    for environment in ("staging", "production"):
        assert merged[environment]["metrics"]["serviceMonitor"]["enabled"]
        assert merged[environment]["secret"]["existingSecret"]

"""The Helm chart (deploy/helm/hark), checked the way CI can without a cluster or a helm
binary: linted and rendered by Helm's own Go SDK (helm-python-sdk), every object validated
against the Kubernetes JSON schemas (kubernetes-validate, offline), and the invariants that
break deployments asserted against the real app (its routes, settings and shutdown grace)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hark.settings import Settings
from support_deploy import (
    CHART,
    NAMESPACE,
    RELEASE,
    env_name,
    merged_values,
    one,
    render,
    secret_fields,
    serves_get,
)
from support_deploy import all_variants as _all_variants

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (the dev extra) renders it")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

VARIANTS = _all_variants()
# Kubernetes versions the rendered objects must be valid for: the chart's kubeVersion floor
# that kubernetes-validate ships, and its newest.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
# Prometheus Operator custom resources: no schema in kubernetes-validate (it has the built-in
# API only); checked structurally below instead.
CRDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    values = VARIANTS[request.param]
    objects, notes = render(values)
    return merged_values(values), objects, notes


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "hark")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_lint_strict(name: str) -> None:
    report = helm.lint(CHART, VARIANTS[name], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_schema_rejects_unknown_settings_and_bad_values() -> None:
    chart = helm.Chart.load(CHART)
    chart.validate_schema(chart.merge_values({}))
    for bad in (
        {"config": {"modle": "small"}},  # a typo is an error, not a silently ignored key
        {"config": {"queue_size": 0}},
        {"modelCache": {"type": "hostPath"}},
        {"gpu": {"enabled": "yes"}},
        {"autoscaling": {"metric": "memory"}},
    ):
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(chart.merge_values(bad))


def test_objects_match_the_kubernetes_schemas(case: Any) -> None:
    _, objects, _ = case
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount"} <= kinds
    for obj in objects:
        if obj["kind"] in CRDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} on {version}: {exc}")


def test_prometheus_operator_objects_are_well_formed(case: Any) -> None:
    values, objects, _ = case
    service = one(objects, "Service", RELEASE)
    for obj in objects:
        if obj["kind"] not in CRDS:
            continue
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        assert obj["metadata"]["name"] and obj["spec"]
    if values["metrics"]["serviceMonitor"]["enabled"]:
        monitor = one(objects, "ServiceMonitor")
        assert monitor["spec"]["selector"]["matchLabels"].items() <= (
            service["metadata"]["labels"].items()
        )
        ports = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports
            assert serves_get(endpoint["path"]), endpoint["path"]
    if values["metrics"]["prometheusRule"]["enabled"]:
        rules = one(objects, "PrometheusRule")["spec"]["groups"][0]["rules"]
        alerts = {r["alert"] for r in rules}
        assert {"HarkHighErrorRate", "HarkQueueSaturated", "HarkSlowRealtimeFactor"} <= alerts
        for rule in rules:
            assert rule["expr"].strip() and rule["labels"]["severity"]
            # The job label Prometheus gives the scraped series is the Service's name.
            assert f'job="{service["metadata"]["name"]}"' in rule["expr"]


def test_probes_use_real_routes_on_the_container_port(case: Any) -> None:
    _, objects, _ = case
    hark = container(objects)
    ports = {p["name"]: p["containerPort"] for p in hark["ports"]}
    probes = {k: hark[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        assert serves_get(probe["path"]), f"{kind} {probe['path']} is not a route of the app"
        port = ports.get(probe["port"], probe["port"])
        assert port == int(config_map(objects)["HARK_PORT"]), kind
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes["readinessProbe"]["path"] == "/ready"


def config_map(objects: list[dict[str, Any]]) -> dict[str, str]:
    return one(objects, "ConfigMap", RELEASE)["data"]  # type: ignore[no-any-return]


def test_service_targets_the_container_port(case: Any) -> None:
    _, objects, _ = case
    hark = container(objects)
    ports = {p["name"]: p["containerPort"] for p in hark["ports"]}
    service = one(objects, "Service", RELEASE)
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    target = port["targetPort"]
    assert ports.get(target, target) in ports.values()
    assert ports.get(target, target) == int(config_map(objects)["HARK_PORT"])
    pod_labels = one(objects, "Deployment", RELEASE)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for ingress in (o for o in objects if o["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == service["metadata"]["name"]
                assert backend["port"]["name"] == port["name"]
    for pdb in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_default_port_is_the_apps(case: Any) -> None:
    _, objects, _ = case
    assert int(config_map(objects)["HARK_PORT"]) == Settings.model_fields["port"].default


def test_gpu_requested_only_when_enabled(case: Any) -> None:
    values, objects, _ = case
    hark = container(objects)
    resources = hark["resources"]
    pod = one(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    affinity = str(pod.get("affinity", ""))
    tolerations = str(pod.get("tolerations", ""))
    if values["gpu"]["enabled"]:
        assert resources["limits"]["nvidia.com/gpu"] == values["gpu"]["count"] >= 1
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
        assert "nvidia.com/gpu.product" in affinity
        assert "nvidia.com/gpu" in tolerations
        if not values["image"]["tag"]:
            assert hark["image"].endswith("-cuda"), "the GPU default is the CUDA image"
    else:
        for section in resources.values():
            assert not any(k.startswith("nvidia.com/") for k in section), resources
        assert "nvidia.com" not in affinity and "nvidia.com" not in tolerations
        if not values["image"]["tag"]:
            assert not hark["image"].endswith("-cuda")


def test_config_map_holds_exactly_the_apps_settings(case: Any) -> None:
    _values, objects, _ = case
    data = config_map(objects)
    fields = set(Settings.model_fields)
    known = {env_name(f) for f in fields}
    for key in data:
        assert key in known, f"{key} is not a hark.settings.Settings field"
    secrets = secret_fields()
    assert not {env_name(f) for f in secrets} & data.keys(), "secrets belong in the Secret"
    # Every non-secret setting is rendered, or listed in values.yaml as null (the app's
    # default; Helm drops null values when it merges, so read the file).
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    nulls = {f for f, v in defaults.items() if v is None}
    missing = {f for f in fields - secrets - nulls if env_name(f) not in data}
    assert not missing, f"settings the chart cannot set: {sorted(missing)} (add them to config)"
    # And the rendered values parse as the app would parse them.
    env = {k[len("HARK_") :].lower(): v for k, v in data.items()}
    Settings(**env)  # type: ignore[arg-type]


def test_secret_and_other_env(case: Any) -> None:
    values, objects, _ = case
    hark = container(objects)
    refs = {next(iter(r)): next(iter(r.values()))["name"] for r in hark["envFrom"]}
    assert refs["configMapRef"] == one(objects, "ConfigMap", RELEASE)["metadata"]["name"]
    secret_name = values["secret"]["existingSecret"] or RELEASE
    assert refs["secretRef"] == secret_name
    allowed = {env_name(f) for f in secret_fields()} | {"HF_TOKEN"}
    for secret in (o for o in objects if o["kind"] == "Secret"):
        assert set(secret.get("stringData") or {}) <= allowed
    if values["secret"]["apiKeys"] and not values["secret"]["existingSecret"]:
        keys = one(objects, "Secret", RELEASE)["stringData"]["HARK_API_KEYS"]
        assert Settings(api_keys=keys).api_keys  # type: ignore[arg-type]
    from hark.align.registry import CACHE_ENV

    for var in hark["env"]:
        if var["name"].startswith("HARK_"):
            # Settings come from the ConfigMap; the aligner cache is read by hark.align.
            assert var["name"] == CACHE_ENV, var


def test_shutdown_fits_the_termination_grace_period(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _values, objects, _ = case
    pod = one(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    hark = container(objects)
    pre_stop = hark.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
    app_grace = max(uvicorn_graceful_shutdown(monkeypatch), app_shutdown_grace(objects))
    assert pod["terminationGracePeriodSeconds"] >= sleep + app_grace + 5


def uvicorn_graceful_shutdown(monkeypatch: pytest.MonkeyPatch) -> float:
    """The HTTP drain `hark serve` gives uvicorn, read by running the real command with
    uvicorn.run replaced."""
    import uvicorn
    from typer.testing import CliRunner

    from hark.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = CliRunner().invoke(app, ["serve", "--model", "unused"])
    assert result.exit_code == 0, result.output
    return float(seen.get("timeout_graceful_shutdown") or 0)


def app_shutdown_grace(objects: list[dict[str, Any]]) -> float:
    """The app's own drain of running work, where Settings has one."""
    field = Settings.model_fields.get("shutdown_grace_s")
    if field is None:
        return 0.0
    return float(config_map(objects).get("HARK_SHUTDOWN_GRACE_S", field.default))


def test_security_context_non_root_read_only(case: Any) -> None:
    values, objects, _ = case
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
    # Hark writes only to mounted volumes: /tmp (uploads), the job database and the cache.
    hark = container(objects)
    mounts = {m["mountPath"]: m["name"] for m in hark["volumeMounts"]}
    data = config_map(objects)
    writable = ["/tmp", data["HARK_DATA_DIR"]]
    if values["modelCache"]["type"] != "image":
        writable.append(data["HARK_DOWNLOAD_ROOT"])
    else:
        assert data["HARK_LOCAL_FILES_ONLY"] == "true", "a baked model is read-only: no downloads"
    volumes = {
        v["name"]: v
        for v in one(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]["volumes"]
    }
    for path in writable:
        assert path in mounts, path
        volume = volumes[mounts[path]]
        assert "emptyDir" in volume or "persistentVolumeClaim" in volume
    env = {v["name"]: v.get("value") for v in hark["env"]}
    for var in ("HF_HOME", "HARK_CACHE_DIR"):
        assert env[var].startswith(data["HARK_DOWNLOAD_ROOT"] + "/")


def test_autoscaling_and_replicas(case: Any) -> None:
    values, objects, _ = case
    deployment = one(objects, "Deployment", RELEASE)
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    if values["autoscaling"]["enabled"]:
        (hpa,) = hpas
        assert "replicas" not in deployment["spec"], "the HPA owns replicas"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
        (metric,) = hpa["spec"]["metrics"]
        if values["autoscaling"]["metric"] == "queue":
            assert metric["pods"]["metric"]["name"] == "hark_queue_depth"
        elif values["autoscaling"]["metric"] == "jobs":
            assert metric["type"] == "External"
            assert metric["external"]["metric"]["name"] == "hark_jobs_queued"
            assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "4"}
        else:
            assert metric["resource"]["name"] == "cpu"
            assert "cpu" in container(objects)["resources"]["requests"]
    else:
        assert not hpas and deployment["spec"]["replicas"] == values["replicaCount"]


def test_redis_job_store(case: Any) -> None:
    values, objects, _ = case
    store = config_map(objects).get("HARK_JOB_STORE")
    redis = [o for o in objects if o["metadata"]["name"] == f"{RELEASE}-redis"]
    if values["redis"]["url"]:
        assert store == values["redis"]["url"] and not redis
    elif values["redis"]["enabled"]:
        service = one(objects, "Service", f"{RELEASE}-redis")
        assert store == f"redis://{service['metadata']['name']}:6379/0"
        assert service["spec"]["ports"][0]["port"] == 6379
        one(objects, "Deployment", f"{RELEASE}-redis")
    else:
        assert not redis and store == values["config"].get("job_store")
    if values["replicaCount"] > 1 or values["autoscaling"]["enabled"]:
        # Several replicas share jobs only through Redis (SQLite lives in one pod).
        assert store and store.startswith("redis"), "multi-replica without a shared job store"


def test_several_replicas_need_a_shared_job_store() -> None:
    chart = helm.Chart.load(CHART)
    for values in ({"replicaCount": 2}, {"autoscaling": {"enabled": True}}):
        with pytest.raises(helm.HelmRenderError, match="redis"):
            chart.render(values, name=RELEASE, namespace=NAMESPACE)
        chart.render({**values, "redis": {"enabled": True}}, name=RELEASE, namespace=NAMESPACE)


def test_notes_say_how_to_reach_it(case: Any) -> None:
    _, objects, notes = case
    service = one(objects, "Service", RELEASE)
    assert f"kubectl -n {NAMESPACE} port-forward svc/{service['metadata']['name']} 9000:80" in (
        notes
    )
    assert "http://localhost:9000/docs" in notes and serves_get("/docs")


def test_ingress_keeps_live_websockets_open() -> None:
    """Live streams hold a WebSocket for their whole length: the Ingress gets read/send/tunnel
    timeouts for the common controllers, the user's annotations win, and it can be turned off."""
    objects, _ = render({"ingress": {"enabled": True}})
    annotations = one(objects, "Ingress", RELEASE)["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["nginx.org/websocket-services"] == RELEASE
    assert annotations["nginx.org/proxy-read-timeout"] == "3600s"
    assert annotations["haproxy.org/timeout-tunnel"] == "3600s"

    own = "nginx.ingress.kubernetes.io/proxy-read-timeout"
    objects, _ = render(
        {
            "ingress": {
                "enabled": True,
                "annotations": {own: "120", "example.com/x": "y"},
                "websocket": {"timeoutSeconds": 7200},
            }
        }
    )
    annotations = one(objects, "Ingress", RELEASE)["metadata"]["annotations"]
    assert annotations[own] == "120" and annotations["example.com/x"] == "y"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "7200"

    objects, _ = render({"ingress": {"enabled": True, "websocket": {"enabled": False}}})
    assert "annotations" not in one(objects, "Ingress", RELEASE)["metadata"]
    chart = helm.Chart.load(CHART)
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(chart.merge_values({"ingress": {"websocket": {"timeoutSeconds": 5}}}))

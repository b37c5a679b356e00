"""The Helm chart (deploy/helm/haptitalk), checked offline: `make deploy-check`.

For the default values and for values-production.yaml:
- `helm lint --strict` passes (our pinned Helm, built from the Go module);
- `helm template` renders, and every object validates against the Kubernetes schemas of
  KUBERNETES_VERSION (kubernetes-validate, strict: an unknown field is an error);
- the collector and Jaeger configurations the chart ships pass the `validate` command of
  our collector and Jaeger builds (the same releases as the chart's images).
And the chart says what docker-compose.yml says: the services' commands and OTEL_*
environment, versions and ports equal .env, the same lock-down (non-root, read-only root,
no capabilities), and only the gateway and the Jaeger UI are reachable from outside.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stackctl import local as stack
from tests.support.stack import ROOT, dotenv

ENV = dotenv()
CHART = ROOT / "deploy/helm/haptitalk"
HELM = ROOT / f".tools/helm-{ENV['HELM_VERSION']}/helm"
OTELCOL = ROOT / f".tools/otelcol-{ENV['OTELCOL_VERSION']}/otelcol-haptitalk"
JAEGER = ROOT / f".tools/jaeger-{ENV['JAEGER_VERSION']}/jaeger"
VALUES = {"default": [], "production": ["-f", str(CHART / "values-production.yaml")]}
RELEASE = "ht"
SERVICES = ("gateway", "session", "feedback")


def helm(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`helm lint|template ...` for the Kubernetes release in .env."""
    if not HELM.exists():
        pytest.fail(f"{HELM.relative_to(ROOT)} is not built: run `make tools`")
    return subprocess.run([str(HELM), command, "--kube-version", ENV["KUBERNETES_VERSION"],
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def render(values: str) -> list[dict]:
    result = helm("template", RELEASE, str(CHART), "--namespace", "haptitalk",
                  *VALUES[values])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(VALUES))
def objects(request: pytest.FixtureRequest) -> list[dict]:
    return render(request.param)


@pytest.fixture(scope="module")
def default() -> list[dict]:
    return render("default")


def find(objects: list[dict], kind: str, component: str) -> dict:
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == kind and labels.get("app.kubernetes.io/component") == component:
            return obj
    raise AssertionError(f"no {kind} for {component}")


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
            for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")}


def container_env(container: dict) -> dict[str, str | dict]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# -- helm itself -----------------------------------------------------------------------

@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint(values: str) -> None:
    result = helm("lint", "--strict", str(CHART), *VALUES[values])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_is_valid_kubernetes(objects: list[dict]) -> None:
    kinds = set()
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, ENV["KUBERNETES_VERSION"], strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {error.message} at {'.'.join(map(str, error.path))}")
        kinds.add(obj["kind"])
    assert {"Deployment", "DaemonSet", "Service", "HorizontalPodAutoscaler", "ConfigMap",
            "NetworkPolicy", "PodDisruptionBudget"} <= kinds


def test_the_checks_fail_on_a_broken_object(default: list[dict]) -> None:
    """The validator is strict: a misspelt field is caught, not ignored."""
    broken = find(default, "Deployment", "gateway")
    broken = {**broken, "spec": {**broken["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, ENV["KUBERNETES_VERSION"], strict=True)


# -- the configs the chart ships run on the real binaries ------------------------------

def _validate_config(binary: Path, files: dict[str, str], args: list[str], env: dict,
                     tmp_path: Path) -> None:
    if not binary.exists():
        pytest.fail(f"{binary.relative_to(ROOT)} is not built: run `make tools`")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    plain = {k: v for k, v in env.items() if isinstance(v, str)}
    result = subprocess.run(
        [str(binary), "validate", *[a.replace("/etc/otelcol/", f"{tmp_path}/")
                                    .replace("/etc/jaeger/", f"{tmp_path}/") for a in args]],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLLECTOR_REPLICA": "pod-0", "STORAGE_USERNAME": "u",
             "STORAGE_PASSWORD": "p", **plain})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tier", ["otel-agent", "otel-tail"])
def test_collector_configs_pass_the_collectors_validate(objects: list[dict], tier: str,
                                                        tmp_path: Path) -> None:
    config = find(objects, "ConfigMap", tier)["data"]
    kind = "DaemonSet" if tier == "otel-agent" else "Deployment"
    container = find(objects, kind, tier)["spec"]["template"]["spec"]["containers"][0]
    _validate_config(OTELCOL, config, container["args"], container_env(container), tmp_path)


def test_jaeger_config_passes_jaegers_validate(objects: list[dict], tmp_path: Path) -> None:
    config = find(objects, "ConfigMap", "jaeger")["data"]
    container = find(objects, "Deployment", "jaeger")["spec"]["template"]["spec"][
        "containers"][0]
    _validate_config(JAEGER, config, container["args"], container_env(container), tmp_path)


@pytest.mark.parametrize("storage", ["badger", "elasticsearch", "opensearch", "cassandra",
                                     "memory"])
def test_every_jaeger_storage_renders_a_valid_config(storage: str, tmp_path: Path) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", f"jaeger.storage.type={storage}",
                  "--show-only", "templates/jaeger.yaml")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert storage in config["config.yaml"]
    _validate_config(JAEGER, config, ["--config", "/etc/jaeger/config.yaml"], {}, tmp_path)


def test_an_unknown_storage_is_refused_by_name() -> None:
    result = helm("template", RELEASE, str(CHART), "--set", "jaeger.storage.type=mongodb")
    assert result.returncode != 0
    assert 'jaeger.storage.type "mongodb"' in result.stderr


# -- the chart says what compose says --------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return stack.compose_model()["services"]


def test_services_run_composes_command_and_otel_environment(default: list[dict],
                                                            compose: dict) -> None:
    for name in SERVICES:
        container = find(default, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0]
        assert container["command"] == compose[name]["command"], name
        env = container_env(container)
        wanted = {k: v for k, v in compose[name]["environment"].items()
                  if k.startswith("OTEL_")}
        assert set(env) >= set(wanted), name
        for key, value in wanted.items():
            if key == "OTEL_EXPORTER_OTLP_ENDPOINT":
                # The node-local agent instead of the one collector.
                assert env[key] == f"http://{RELEASE}-haptitalk-otel-agent:{ENV['OTLP_HTTP_PORT']}"
            elif key == "OTEL_RESOURCE_ATTRIBUTES":
                assert env[key].startswith(value + ",k8s.pod.name="), name
            else:
                assert env[key] == value, (name, key)


def test_versions_and_ports_are_the_ones_in_env(default: list[dict]) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["collector"]["image"]["tag"] == ENV["OTELCOL_VERSION"]
    assert values["jaeger"]["image"]["tag"] == ENV["JAEGER_VERSION"]
    assert values["postgresql"]["image"]["tag"] == f"{ENV['POSTGRES_VERSION']}-bookworm"
    assert values["otelEnv"]["OTEL_TRACES_SAMPLER_ARG"] == ENV["OTEL_TRACES_SAMPLER_ARG"]
    ports = {"gateway": "GATEWAY_PORT", "session": "SESSION_PORT", "feedback": "FEEDBACK_PORT"}
    for name, key in ports.items():
        assert str(values[name]["port"]) == ENV[key]
    collector = values["collector"]["ports"]
    assert str(collector["otlpGrpc"]) == ENV["OTLP_GRPC_PORT"]
    assert str(collector["otlpHttp"]) == ENV["OTLP_HTTP_PORT"]
    assert str(collector["health"]) == ENV["COLLECTOR_HEALTH_PORT"]
    assert str(collector["prometheus"]) == ENV["COLLECTOR_PROMETHEUS_PORT"]
    assert str(values["jaeger"]["ports"]["ui"]) == ENV["JAEGER_UI_PORT"]
    sampling = values["collector"]["tail"]["sampling"]
    assert str(sampling["slowMs"]) == ENV["TAIL_SAMPLING_SLOW_MS"]
    assert str(sampling["percent"]) == ENV["TAIL_SAMPLING_PERCENT"]


def test_collector_configs_are_the_repositorys_files(default: list[dict]) -> None:
    agent = find(default, "ConfigMap", "otel-agent")["data"]
    tail = find(default, "ConfigMap", "otel-tail")["data"]
    for name, text in {**agent, **tail}.items():
        # files/collector/ holds symbolic links into infra/collector/, nothing else.
        source = (CHART / "files/collector" / name).resolve()
        assert source.is_relative_to(ROOT / "infra/collector"), source
        assert text.strip() == source.read_text().strip(), name


def test_jaeger_ui_uses_the_repositorys_ui_config(default: list[dict]) -> None:
    ui_config = ROOT / "infra/jaeger/ui-config.json"
    if not ui_config.exists():
        pytest.skip("infra/jaeger/ui-config.json does not exist yet")
    data = find(default, "ConfigMap", "jaeger")["data"]
    assert data["ui-config.json"].strip() == ui_config.read_text().strip()
    assert "config_file: /etc/jaeger/ui-config.json" in data["config.yaml"]


# -- production shape ------------------------------------------------------------------

def test_pods_are_locked_down_like_compose(objects: list[dict]) -> None:
    for name, spec in pod_specs(objects).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "limits" in container["resources"], name
            assert container["resources"]["limits"].get("memory"), name
            assert ":" in container["image"] and not container["image"].endswith(":latest")
            assert container.get("readinessProbe") and container.get("livenessProbe"), name


def test_services_probe_healthz_and_scale(objects: list[dict]) -> None:
    for name in SERVICES:
        container = find(objects, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        hpa = find(objects, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-haptitalk-{name}"


def test_session_uses_postgresql_from_a_secret_never_sqlite(objects: list[dict]) -> None:
    container = find(objects, "Deployment", "session")["spec"]["template"]["spec"][
        "containers"][0]
    env = container_env(container)
    assert env["SESSION_DB"] == "postgres"
    assert "SESSION_DB_PATH" not in env
    assert env["PGPASSWORD"]["secretKeyRef"]["key"] == "password"
    assert all("sqlite" not in str(v).lower() for v in env.values())


def test_tail_tier_is_reached_through_a_headless_service(objects: list[dict]) -> None:
    headless = find(objects, "Service", "otel-tail")
    assert headless["spec"]["clusterIP"] == "None"
    agent = find(objects, "DaemonSet", "otel-agent")["spec"]["template"]["spec"][
        "containers"][0]
    assert container_env(agent)["TAIL_COLLECTORS_HOST"] == headless["metadata"]["name"]
    # A stopping replica keeps receiving until the agents have re-routed, within its grace.
    tail = find(objects, "Deployment", "otel-tail")["spec"]["template"]["spec"]
    pre_stop = tail["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 0 < pre_stop < tail["terminationGracePeriodSeconds"]
    config = yaml.safe_load(find(objects, "ConfigMap", "otel-agent")["data"]["agent.yaml"])
    assert config["exporters"]["load_balancing/traces"]["routing_key"] == "traceID"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["load_balancing/traces"]


def test_only_the_gateway_and_the_jaeger_ui_are_reachable_from_outside(
        objects: list[dict]) -> None:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["metadata"]["name"].endswith("-default-deny")]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"]
    open_to_all, covered = set(), set()
    for policy in policies:
        component = policy["spec"]["podSelector"].get("matchLabels", {}).get(
            "app.kubernetes.io/component")
        covered.add(component)
        for rule in policy["spec"].get("ingress", []):
            if not rule.get("from"):
                open_to_all |= {(component, p["port"]) for p in rule["ports"]}
    assert open_to_all == {("gateway", int(ENV["GATEWAY_PORT"])),
                           ("jaeger", int(ENV["JAEGER_UI_PORT"]))}
    workloads = {o["metadata"]["labels"]["app.kubernetes.io/component"]
                 for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")}
    assert workloads <= covered, workloads - covered

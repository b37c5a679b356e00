"""The Helm chart (deploy/helm/haptitalk), checked offline: `make deploy-check`.

For the default values and for values-production.yaml:
- `helm lint --strict` passes (our pinned Helm, built from the Go module);
- `helm template` renders, and every object validates against the Kubernetes schemas of
  KUBERNETES_VERSION (kubernetes-validate, strict: an unknown field is an error);
- the collector and Jaeger configurations the chart ships pass the `validate` command of
  our collector and Jaeger builds (the same releases as the chart's images).
And the chart says what docker-compose.yml says: the services' commands and OTEL_*
environment, versions and ports equal .env, the same lock-down (uid 10001, read-only root,
no capabilities, RuntimeDefault seccomp), only the gateway and the Jaeger UI reachable
from outside, and every hop of docs/production.md's NetworkPolicies open to its callers
only. The last test breaks a copy of the chart once per promise and sees the check fail.
Safe by default and ready for a real cluster: the admin API off (a gateway started with the
rendered environment answers 404 on /admin), registry secrets on every pod, the agent on
every node whatever its taints, scheduling values and a disruption budget per tier, a
values schema that refuses what would render wrong, and a `helm test` hook whose trace the
tail tier keeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stackctl import local as stack
from stackctl.tools import binary
from tests.support.stack import ROOT, dotenv

ENV = dotenv()
CHART = ROOT / "deploy/helm/haptitalk"
HELM = binary("helm")
OTELCOL = binary("otelcol")
JAEGER = binary("jaeger")
VALUES = {"default": [], "production": ["-f", str(CHART / "values-production.yaml")]}
RELEASE = "ht"
SERVICES = ("gateway", "session", "feedback", "watch")
# Scaled by a HorizontalPodAutoscaler (the watch is one replica: values.yaml says why).
SCALED = ("gateway", "session", "feedback")


def helm(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`helm lint|template ...` for the Kubernetes release in .env."""
    if not HELM.exists():
        pytest.fail(f"{HELM.relative_to(ROOT)} is not built: run `make tools`")
    return subprocess.run([str(HELM), command, "--kube-version", ENV["KUBERNETES_VERSION"],
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def render(values: str, chart: Path = CHART, *args: str) -> list[dict]:
    result = helm("template", RELEASE, str(chart), "--namespace", "haptitalk",
                  *VALUES[values], *args)
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
    """Every pod the chart creates, by kind/name: the workloads' templates and bare Pods
    (the `helm test` hook)."""
    specs = {f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
             for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")}
    specs.update({f"Pod/{o['metadata']['name']}": o["spec"]
                  for o in objects if o["kind"] == "Pod"})
    return specs


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
            "NetworkPolicy", "PodDisruptionBudget", "Pod"} <= kinds


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
    assert "/jaeger/storage/type" in result.stderr and "'badger'" in result.stderr


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
    assert values["victorialogs"]["image"]["tag"] == f"v{ENV['VICTORIALOGS_VERSION']}"
    assert str(values["victorialogs"]["port"]) == ENV["VICTORIALOGS_PORT"]
    assert values["victorialogs"]["retention"] == ENV["VICTORIALOGS_RETENTION"]
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


ENV_REF = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-([^}]*))?\}")


def collector_config(objects: list[dict], tier: str) -> tuple[dict, list[str]]:
    """The configuration a collector tier runs, as the collector reads it: the rendered
    ConfigMap's files in the order of the container's --config arguments, merged (maps
    merge, lists and scalars replace), each ${env:NAME:-default} filled from the rendered
    container's environment (a downward-API value as `<its fieldPath>`). With the
    variables read that the container does not set and the file gives no default for."""
    kind = "DaemonSet" if tier == "otel-agent" else "Deployment"
    container = find(objects, kind, tier)["spec"]["template"]["spec"]["containers"][0]
    env = {k: v if isinstance(v, str) else f"<{v['fieldRef']['fieldPath']}>"
           for k, v in container_env(container).items()}
    data = find(objects, "ConfigMap", tier)["data"]
    args = container["args"]
    files = [args[i + 1].removeprefix("/etc/otelcol/") for i, arg in enumerate(args)
             if arg == "--config"]
    unset: list[str] = []

    def fill(match: re.Match) -> str:
        name, default = match[1], match[2]
        if name not in env and default is None:
            unset.append(f"{tier}: its configuration reads ${{env:{name}}}, which the "
                         "container does not set")
        return env.get(name, default or "")

    def expand(node):
        if isinstance(node, dict):
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return ENV_REF.sub(fill, node) if isinstance(node, str) else node

    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
        return over

    config: dict = {}
    for name in files:
        config = merge(config, yaml.safe_load(data[name]))
    return expand(config), unset


# What each collector tier must do in the cluster, written out by hand (docs/production.md,
# "Collector tiers" and "Security"; infra/collector/config.yaml's header), not read from
# the files the ConfigMaps are rendered from. Names are those of release "ht".
AGENT_PIPELINES = {"traces": ["load_balancing/traces"], "logs": ["load_balancing/traces"],
                   "metrics": ["load_balancing/metrics"]}
TAIL_PIPELINES = {"traces": ["otlp_grpc/jaeger"],
                  "traces/all-spans-for-metrics": ["span_metrics"],
                  "metrics": ["prometheus"], "metrics/span_metrics": ["prometheus"],
                  "logs": ["otlp_http/victorialogs"]}
TAIL_POLICIES = ["keep-errors", "keep-slow", "keep-helm-test", "share-of-the-rest"]
# The share of the other traces each values file keeps (values-production.yaml: 5 %).
TAIL_PERCENT = {"default": "10", "production": "5"}
# Attribute keys the redaction processor must drop, and ones it must leave.
REDACTED = ["speech", "user.speech.text", "transcript", "segment.text",
            "http.request.body", "http.response.body"]
KEPT = ["http.route", "session.id", "http.request.method", "haptitalk.pattern"]


def collector_problems(objects: list[dict], values: str) -> list[str]:
    problems: list[str] = []

    def expect(what: str, got, want) -> None:
        if got != want:
            problems.append(f"{what}: {got!r}, expected {want!r}")

    agent, unset = collector_config(objects, "otel-agent")
    tail, unset_tail = collector_config(objects, "otel-tail")
    problems += unset + unset_tail
    for tier, config, pipelines in (("otel-agent", agent, AGENT_PIPELINES),
                                    ("otel-tail", tail, TAIL_PIPELINES)):
        got = config["service"]["pipelines"]
        expect(f"{tier}: pipelines", sorted(got), sorted(pipelines))
        for name, exporters in pipelines.items():
            pipeline = got.get(name, {})
            expect(f"{tier}: {name} exports to", pipeline.get("exporters"), exporters)
            # First: refuse data (the SDKs retry) rather than be OOM-killed.
            expect(f"{tier}: {name}'s first processor", pipeline.get("processors", [None])[0],
                   "memory_limiter")
        otlp = config["receivers"]["otlp"]["protocols"]
        expect(f"{tier}: OTLP gRPC listens on", otlp["grpc"]["endpoint"], "0.0.0.0:4317")
        expect(f"{tier}: OTLP HTTP listens on", otlp["http"]["endpoint"], "0.0.0.0:4318")

    # The agents: every span of a trace (and its logs) to one tail replica, found through
    # the tail tier's headless Service.
    for exporter, key in (("load_balancing/traces", "traceID"),
                          ("load_balancing/metrics", "resource")):
        lb = agent["exporters"][exporter]
        expect(f"otel-agent: {exporter} routes by", lb["routing_key"], key)
        expect(f"otel-agent: {exporter} resolves", lb["resolver"]["dns"]["hostname"],
               "ht-haptitalk-otel-tail")
        expect(f"otel-agent: {exporter} sends to port", lb["resolver"]["dns"]["port"], "4317")

    # The tail tier: redacted, sampled, to the in-cluster Jaeger and VictoriaLogs.
    pipelines = tail["service"]["pipelines"]
    for name in ("traces", "logs"):
        processors = pipelines.get(name, {}).get("processors", [])
        if "redaction/speech" not in processors:
            problems.append(f"otel-tail: the {name} pipeline does not redact "
                            f"(processors {processors})")
    traces = pipelines.get("traces", {}).get("processors", [])
    if not ("redaction/speech" in traces and "tail_sampling" in traces
            and traces.index("redaction/speech") < traces.index("tail_sampling")):
        problems.append(f"otel-tail: traces are not redacted before tail sampling ({traces})")
    if "tail_sampling" in pipelines.get("traces/all-spans-for-metrics", {}).get(
            "processors", []):
        problems.append("otel-tail: span metrics see sampled spans only")
    blocked = tail["processors"]["redaction/speech"]["blocked_key_patterns"]
    for key in REDACTED:
        if not any(re.search(p, key) for p in blocked):
            problems.append(f"otel-tail: attribute {key} is not redacted ({blocked})")
    for key in KEPT:
        if any(re.search(p, key) for p in blocked):
            problems.append(f"otel-tail: attribute {key} is redacted ({blocked})")
    exporters = tail["exporters"]
    expect("otel-tail: spans go to", exporters["otlp_grpc/jaeger"]["endpoint"],
           "ht-haptitalk-jaeger-collector:4317")
    expect("otel-tail: log records go to",
           exporters["otlp_http/victorialogs"]["logs_endpoint"],
           "http://ht-haptitalk-victorialogs:9428/insert/opentelemetry/v1/logs")
    for name in ("otlp_grpc/jaeger", "otlp_http/victorialogs"):
        # In memory: a scaled-down replica sends what it holds before it exits.
        expect(f"otel-tail: {name}'s queue storage",
               exporters[name]["sending_queue"].get("storage"), None)
        expect(f"otel-tail: {name} retries", exporters[name]["retry_on_failure"]["enabled"],
               True)
    own = tail["service"]["telemetry"]["traces"]["processors"][0]["batch"]["exporter"]["otlp"]
    expect("otel-tail: its own traces go to", own["endpoint"],
           "http://ht-haptitalk-jaeger-collector:4317")
    policies = tail["processors"]["tail_sampling"]["policies"]
    expect("otel-tail: tail-sampling policies", [p["name"] for p in policies], TAIL_POLICIES)
    by_name = {p["name"]: p for p in policies}
    if set(by_name) == set(TAIL_POLICIES):
        expect("otel-tail: keep-errors keeps",
               by_name["keep-errors"]["status_code"]["status_codes"], ["ERROR"])
        expect("otel-tail: keep-slow keeps traces slower than (ms)",
               str(by_name["keep-slow"]["latency"]["threshold_ms"]), "500")
        expect("otel-tail: keep-helm-test keeps",
               by_name["keep-helm-test"]["string_attribute"],
               {"key": "synthetic_request", "values": ["helm-test"]})
        expect("otel-tail: share of the rest (%)",
               str(by_name["share-of-the-rest"]["probabilistic"]["sampling_percentage"]),
               TAIL_PERCENT[values])
    environment = {a["key"]: a["value"] for a in
                   tail["processors"]["resource/environment"]["attributes"]}
    expect("otel-tail: deployment.environment.name", environment.get(
        "deployment.environment.name"), "production")
    replica = {a["key"]: a["value"] for a in tail["processors"]["resource/replica"]["attributes"]}
    expect("otel-tail: collector.tail.replica", replica.get("collector.tail.replica"),
           "<metadata.name>")
    return problems


@pytest.mark.parametrize("values", sorted(VALUES))
def test_collector_tiers_do_what_production_md_says(values: str) -> None:
    assert (problems := collector_problems(render(values), values)) == [], "\n".join(problems)


def test_the_chart_ships_the_repositorys_collector_files() -> None:
    """files/collector/ holds symbolic links into infra/collector/, nothing else: the
    cluster runs the files local mode and `make test-scale` run, not copies."""
    for path in sorted((CHART / "files/collector").iterdir()):
        assert path.is_symlink(), f"{path.relative_to(ROOT)} is a copy, not a link"
        assert path.resolve().is_relative_to(ROOT / "infra/collector"), path.resolve()


@pytest.mark.parametrize(("broken", "file", "old", "new", "expected"), [
    ("spans sent to the Jaeger UI's Service", "templates/collector-tail.yaml",
     '"component" "jaeger-collector") }}:{{ .Values.jaeger.ports.otlpGrpc }}',
     '"component" "jaeger") }}:{{ .Values.jaeger.ports.otlpGrpc }}',
     "otel-tail: spans go to: 'ht-haptitalk-jaeger:4317', expected "
     "'ht-haptitalk-jaeger-collector:4317'"),
    ("the tail tier's traces not redacted", "files/collector/tail.yaml",
     "resource/replica, redaction/speech,", "resource/replica,",
     "otel-tail: the traces pipeline does not redact"),
    ("a sampling share moved in values.yaml", "values.yaml", "      percent: 10",
     "      percent: 50", "otel-tail: share of the rest (%): '50', expected '10'"),
])
def test_collector_check_fails_on_a_broken_chart(tmp_path: Path, broken: str, file: str,
                                                 old: str, new: str, expected: str) -> None:
    """collector_problems on a copy of the chart (the symbolic links copied as files) with
    one thing broken."""
    chart = tmp_path / "haptitalk"
    shutil.copytree(CHART, chart)
    text = (chart / file).read_text()
    assert old in text, f"{file} no longer has {old!r}: update this broken copy"
    (chart / file).write_text(text.replace(old, new, 1))
    problems = collector_problems(render("default", chart), "default")
    assert any(p.startswith(expected) for p in problems), (broken, problems)


def test_jaeger_ui_shows_the_monitor_tab_and_the_logs_link(default: list[dict]) -> None:
    """The UI configuration Jaeger reads in the cluster, against what docs/logs.md and
    docs/production.md promise (not against the file it is rendered from): the Monitor and
    System Architecture tabs on, the trace page's "Logs for this trace" link to VictoriaLogs'
    UI at victorialogs.publicUrl (by default a port-forward on localhost:9428)."""
    config_map = find(default, "ConfigMap", "jaeger")
    data = config_map["data"]
    assert "config_file: /etc/jaeger/ui-config.json" in data["config.yaml"]
    spec = find(default, "Deployment", "jaeger")["spec"]["template"]["spec"]
    mounted = {v["name"] for v in spec["volumes"]
               if v.get("configMap", {}).get("name") == config_map["metadata"]["name"]}
    assert any(m["mountPath"] == "/etc/jaeger" and m["name"] in mounted
               for m in spec["containers"][0]["volumeMounts"]), "the ConfigMap is not /etc/jaeger"
    ui = json.loads(data["ui-config.json"])
    assert ui["monitor"]["menuEnabled"] is True, ui["monitor"]
    assert ui["dependencies"]["menuEnabled"] is True, ui["dependencies"]
    (link,) = ui["linkPatterns"]
    assert (link["type"], link["text"]) == ("traces", "Logs for this trace"), link
    assert link["url"].startswith(
        "http://localhost:9428/select/vmui/#/?query=trace_id%3A%22#{traceID}%22"), link["url"]
    menu = {item["label"]: item["url"] for group in ui["menu"] for item in group["items"]}
    assert menu.get("Logs (VictoriaLogs)") == "http://localhost:9428/select/vmui/", menu


def test_the_logs_link_leads_where_victorialogs_is_reached() -> None:
    """The trace page's "Logs for this trace" link and the menu entry take
    victorialogs.publicUrl (a port-forward by default, an ingress in production); the
    collectors send log records to the chart's VictoriaLogs Service."""
    objects = render("default", CHART, "--set", "victorialogs.publicUrl=https://logs.example.com/")
    ui = json.loads(find(objects, "ConfigMap", "jaeger")["data"]["ui-config.json"])
    (link,) = ui["linkPatterns"]
    assert link["text"] == "Logs for this trace"
    assert link["url"].startswith("https://logs.example.com/select/vmui/#/?query=trace_id")
    assert "localhost:9428" not in json.dumps(ui)
    tail = find(objects, "Deployment", "otel-tail")["spec"]["template"]["spec"]["containers"][0]
    service = find(objects, "Service", "victorialogs")
    assert container_env(tail)["VICTORIALOGS_ENDPOINT"] == (
        f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}")


# -- production shape ------------------------------------------------------------------

def lockdown_problems(objects: list[dict]) -> list[str]:
    """docs/production.md, Security: non-root (uid 10001, PostgreSQL its image's 999),
    read-only root, every capability dropped, no privilege escalation, the RuntimeDefault
    seccomp profile, no service account token; limits, pinned images, probes."""
    problems = []
    for name, spec in pod_specs(objects).items():
        pod = spec.get("securityContext", {})
        uid = 999 if name.endswith(("-postgresql", "-rabbitmq")) else 10001
        problems += [f"{name}: {what}" for what, ok in (
            ("runAsNonRoot", pod.get("runAsNonRoot") is True),
            (f"runAsUser {uid}", pod.get("runAsUser") == uid),
            ("seccompProfile RuntimeDefault", pod.get("seccompProfile") == {
                "type": "RuntimeDefault"}),
            ("no service account token", spec.get("automountServiceAccountToken") is False),
        ) if not ok]
        for container in spec["containers"]:
            sc = container.get("securityContext", {})
            limits = container.get("resources", {}).get("limits", {})
            image = container["image"]
            problems += [f"{name}/{container['name']}: {what}" for what, ok in (
                ("readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True),
                ("allowPrivilegeEscalation false", sc.get("allowPrivilegeEscalation") is False),
                ("capabilities drop ALL", sc.get("capabilities", {}).get("drop") == ["ALL"]),
                # A container may not loosen what the pod sets.
                ("no runAsUser of its own", "runAsUser" not in sc),
                ("no seccompProfile of its own",
                 sc.get("seccompProfile", {"type": "RuntimeDefault"}) == {
                     "type": "RuntimeDefault"}),
                ("a memory limit", bool(limits.get("memory"))),
                ("a pinned image", ":" in image and not image.endswith(":latest")),
                # A long-running container's (the `helm test` pod runs once and exits).
                ("readiness and liveness probes", name.startswith("Pod/") or
                 bool(container.get("readinessProbe") and container.get("livenessProbe"))),
            ) if not ok]
    return problems


def test_pods_are_locked_down_like_compose(objects: list[dict]) -> None:
    assert lockdown_problems(objects) == []


def test_services_probe_healthz_and_scale(objects: list[dict]) -> None:
    for name in SERVICES:
        container = find(objects, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        if name not in SCALED:
            continue
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
    assert open_to_all == {("gateway", int(ENV["GATEWAY_PORT"])), ("watch", int(ENV["WATCH_PORT"])),
                           ("jaeger", int(ENV["JAEGER_UI_PORT"]))}
    workloads = {o["metadata"]["labels"]["app.kubernetes.io/component"]
                 for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")}
    assert workloads <= covered, workloads - covered


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) on a pod's labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, values = expression["key"], expression.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}
        if not ok[expression["operator"]]:
            return False
    return True


def reachable(objects: list[dict]) -> dict[tuple[str, int | str], set[str]]:
    """Who may open a connection to which port of which pod, read off the NetworkPolicies
    as Kubernetes applies them: a pod no policy selects takes anything; a selected pod only
    what one of its policies allows, the allowances adding up. {(component, port): peers},
    a peer being a component of this release (by the pods its selector matches),
    "anyone", or the JSON of another peer (a namespace, an IP block)."""
    pods = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]:
            o["spec"]["template"]["metadata"]["labels"]
            for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")}
    found: dict[tuple[str, int | str], set[str]] = defaultdict(set)
    selected = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        targets = [c for c, labels in pods.items()
                   if selects(policy["spec"]["podSelector"], labels)]
        selected |= set(targets)
        for rule in policy["spec"].get("ingress", []):
            peers: set[str] = set()
            for peer in rule.get("from") or []:
                ours = {c for c, labels in pods.items() if selects(peer["podSelector"], labels)
                        } if set(peer) == {"podSelector"} else set()
                peers |= ours or {json.dumps(peer, sort_keys=True)}
            for port in [p["port"] for p in rule.get("ports", [])] or ["all"]:
                for target in targets:
                    found[(target, port)] |= peers or {"anyone"}
    for component in set(pods) - selected:
        found[(component, "all")].add("anyone")
    return dict(found)


# Who may open a connection to which port of which pod, written out by hand from
# docs/production.md (Security) and stackctl/topology.py: the calls gateway -> session,
# gateway -> feedback, feedback -> session (EDGES), feedback and the watch to RabbitMQ
# (BROKER_EDGES), the gateway, the watch's stream and the Jaeger UI public; the services'
# OTLP to their node's agent, the agents' to the tail tier, the tail tier's to Jaeger and
# VictoriaLogs; PostgreSQL for session. Not read from the values file under test: a value
# that opens a port moves the rendered policies, not this table. The ports are .env's
# (test_versions_and_ports_are_the_ones_in_env holds values.yaml to them).
SERVICES_SENDING_OTLP = {"gateway", "session", "feedback", "watch"}
MONITORING = json.dumps({"namespaceSelector": {"matchLabels": {
    "kubernetes.io/metadata.name": "monitoring"}}}, sort_keys=True)
HOPS: dict[tuple[str, int | str], set[str]] = {
    ("gateway", 8000): {"anyone"},
    ("watch", 8003): {"anyone"},
    ("jaeger", 16686): {"anyone"},
    ("session", 8001): {"gateway", "feedback"},
    ("feedback", 8002): {"gateway"},
    ("rabbitmq", 5673): {"feedback", "watch"},
    ("otel-agent", 4317): SERVICES_SENDING_OTLP,
    ("otel-agent", 4318): SERVICES_SENDING_OTLP,
    ("otel-tail", 4317): {"otel-agent"},
    ("jaeger", 4317): {"otel-tail"},
    ("victorialogs", 9428): {"otel-tail"},
}
PROMISED_HOPS = {
    "default": {**HOPS, ("postgresql", 5432): {"session"}},
    # values-production.yaml: a managed PostgreSQL (none in the chart), and the collectors'
    # and Jaeger's metrics ports (8888 their own, 8889 span metrics) for the Prometheus of
    # the `monitoring` namespace (networkPolicy.metricsFrom).
    "production": {**HOPS, **{(component, port): {MONITORING}
                              for component in ("otel-agent", "otel-tail", "jaeger")
                              for port in (8888, 8889)}},
}


def promised_hops(values: str) -> dict[tuple[str, int | str], set[str]]:
    """PROMISED_HOPS for the values file `values` (docs/production.md, Security)."""
    return PROMISED_HOPS[values]


def hop_differences(objects: list[dict], values: str) -> dict:
    got, want = reachable(objects), promised_hops(values)
    return {key: {"rendered": got.get(key), "promised": want.get(key)}
            for key in got.keys() | want.keys() if got.get(key) != want.get(key)}


@pytest.mark.parametrize("values", sorted(VALUES))
def test_each_hop_is_open_to_its_callers_only(values: str) -> None:
    differences = hop_differences(render(values), values)
    assert differences == {}, "\n".join(
        f"{component}:{port} open to {sorted(d['rendered'] or [])}, promised to "
        f"{sorted(d['promised'] or [])}"
        for (component, port), d in sorted(differences.items(), key=str))


POLICIES = "templates/networkpolicies.yaml"


@pytest.mark.parametrize(("broken", "edit", "args", "expected"), [
    ("seccomp off", None, ["--set", "podSecurityContext.seccompProfile.type=Unconfined"],
     "seccompProfile RuntimeDefault"),
    ("another uid", None, ["--set", "podSecurityContext.runAsUser=1000"], "runAsUser 10001"),
    ("the gateway reaches the tail tier", (
        POLICIES, '"from" (list (index $peer "otel-agent"))',
        '"from" (list (index $peer "otel-agent") $peer.gateway)'), [], ("otel-tail", 4317)),
    ("the agents reach Jaeger's OTLP port", (
        POLICIES, '"from" (list (index $peer "otel-tail"))',
        '"from" (list (index $peer "otel-agent"))'), [], ("jaeger", 4317)),
    ("the agents reach VictoriaLogs", (
        POLICIES, '(concat (list (index $peer "otel-tail")) .Values.victorialogs.uiFrom)',
        '(concat (list (index $peer "otel-tail") (index $peer "otel-agent")) '
        '.Values.victorialogs.uiFrom)'), [], ("victorialogs", 9428)),
    ("VictoriaLogs open to anyone", None, ["--set-json", "victorialogs.uiFrom=[{}]"],
     ("victorialogs", 9428)),
    ("feedback reaches PostgreSQL", (
        POLICIES, '"from" (list $peer.session) "why" "the session service only"',
        '"from" (list $peer.session $peer.feedback) "why" "the session service only"'), [],
     ("postgresql", 5432)),
    # Selectors are matched against the pods' labels: a policy selecting no pod leaves
    # the default deny alone, and the gateway unreachable.
    ("the per-hop policies select no pod", (
        POLICIES, '{{- include "haptitalk.selectorLabels" $ctx | nindent 6 }}',
        '{{- include "haptitalk.selectorLabels" $ctx | nindent 6 }}\n      tier: x'), [],
     ("gateway", 8000)),
    # A values file that opens a port is caught too: PROMISED_HOPS is not read from it.
    ("the values open the agents' OTLP ports to every pod", (
        "values.yaml", "  otlpFrom: []", "  otlpFrom: [{}]"), [], ("otel-agent", 4317)),
    ("the gateway reaches the broker", (
        POLICIES, '"from" (list $peer.feedback $peer.watch) "why" "AMQP',
        '"from" (list $peer.feedback $peer.watch $peer.gateway) "why" "AMQP'), [],
     ("rabbitmq", 5673)),
])
def test_lockdown_and_hop_checks_fail_on_a_broken_chart(
        tmp_path: Path, broken: str, edit: tuple[str, str, str] | None, args: list[str],
        expected: str | tuple) -> None:
    """Each promise above, broken in a copy of the chart (the symbolic links copied as
    files), is reported by the check that keeps it."""
    chart = tmp_path / "haptitalk"
    shutil.copytree(CHART, chart)
    if edit:
        file, old, new = edit
        text = (chart / file).read_text()
        assert old in text, f"{file} no longer has {old!r}: update this broken copy"
        (chart / file).write_text(text.replace(old, new, 1))
    objects = render("default", chart, *args)
    if isinstance(expected, str):
        problems = lockdown_problems(objects)
        assert problems and all(expected in p for p in problems), problems
    else:
        differences = hop_differences(objects, "default")
        assert expected in differences, (broken, differences)


# -- safe by default, and a cluster's own scheduling rules -------------------------------

_ADMIN_PROBE = """
from fastapi.testclient import TestClient
from services.gateway.api import app
client = TestClient(app, raise_server_exceptions=False)
print(client.get("/admin/scenarios").status_code,
      client.put("/admin/scenarios/error_injection", json={"enabled": True}).status_code)
"""


def test_the_admin_api_is_off_unless_the_values_turn_it_on(objects: list[dict]) -> None:
    """Every service gets ADMIN_API=false from the chart's defaults (production too), and
    a gateway started with the rendered environment answers 404 on /admin."""
    for name in SERVICES:
        container = find(objects, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0]
        assert container_env(container)["ADMIN_API"] == "false", name
    gateway = find(objects, "Deployment", "gateway")["spec"]["template"]["spec"][
        "containers"][0]
    rendered = {k: v for k, v in container_env(gateway).items() if isinstance(v, str)}
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-c", _ADMIN_PROBE], cwd=ROOT, capture_output=True,
        text=True, timeout=60,
        # `make` exports .env's ADMIN_API=true: only the rendered value may count.
        env={**{k: v for k, v in os.environ.items() if k != "ADMIN_API"}, **rendered})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["404", "404"], result.stdout
    on = render("default", CHART, "--set", "adminApi=true")
    for name in SERVICES:
        container = find(on, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert container_env(container)["ADMIN_API"] == "true", name


def test_every_pod_pulls_with_the_registry_secrets() -> None:
    objects = render("default", CHART, "--set-json", 'imagePullSecrets=[{"name": "regcred"}]')
    specs = pod_specs(objects)
    # The four services, both collector tiers, Jaeger, VictoriaLogs, PostgreSQL, RabbitMQ and the
    # test pod.
    assert len(specs) == 11, sorted(specs)
    missing = [name for name, spec in specs.items()
               if spec.get("imagePullSecrets") != [{"name": "regcred"}]]
    assert missing == []


def test_the_agent_runs_on_every_node_whatever_its_taints(objects: list[dict]) -> None:
    """The services send to the agent of their own node (internalTrafficPolicy: Local):
    a tainted node without an agent would lose its pods' telemetry. A toleration with
    operator Exists and no key tolerates every taint (Kubernetes' scheduling rules)."""
    service = find(objects, "Service", "otel-agent")
    assert service["spec"]["internalTrafficPolicy"] == "Local"
    agent = find(objects, "DaemonSet", "otel-agent")["spec"]["template"]["spec"]
    assert {"operator": "Exists"} in agent.get("tolerations", []), agent.get("tolerations")


SCHEDULED = {"gateway": "gateway", "session": "session", "feedback": "feedback",
             "collector.agent": "otel-agent", "collector.tail": "otel-tail",
             "jaeger": "jaeger", "postgresql": "postgresql", "victorialogs": "victorialogs",
             "watch": "watch", "broker": "rabbitmq"}


def test_each_component_takes_node_selector_tolerations_and_affinity() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["tracing"]}]}]}}}
    toleration = {"key": "dedicated", "operator": "Equal", "value": "tracing",
                  "effect": "NoSchedule"}
    args = []
    for key in SCHEDULED:
        args += ["--set-json", f'{key}.nodeSelector={{"pool": "{key}"}}',
                 "--set-json", f"{key}.tolerations={json.dumps([toleration])}",
                 "--set-json", f"{key}.affinity={json.dumps(affinity)}"]
    objects = render("default", CHART, *args)
    for obj in objects:
        kubernetes_validate.validate(obj, ENV["KUBERNETES_VERSION"], strict=True)
    for key, component in SCHEDULED.items():
        spec = next(o["spec"]["template"]["spec"] for o in objects
                    if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")
                    and o["metadata"]["labels"]["app.kubernetes.io/component"] == component)
        assert spec["nodeSelector"] == {"pool": key}, component
        assert spec["tolerations"] == [toleration], component
        assert spec["affinity"] == affinity, component


@pytest.mark.parametrize("component", ["gateway", "session", "feedback", "otel-tail", "jaeger"])
def test_a_disruption_budget_keeps_each_tier_serving_through_drains(
        objects: list[dict], component: str) -> None:
    """One budget per replicated tier, selecting exactly that tier's pods, and never one
    that forbids every eviction (a drain would hang on it)."""
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    workloads = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]:
                 o["spec"]["template"]["metadata"]["labels"]
                 for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")}
    mine = [b for b in budgets if selects(b["spec"]["selector"], workloads[component])]
    assert len(mine) == 1, [b["metadata"]["name"] for b in mine]
    others = [c for c, labels in workloads.items()
              if c != component and selects(mine[0]["spec"]["selector"], labels)]
    assert others == [], f"{component}'s budget also holds {others}"
    assert mine[0]["spec"].get("maxUnavailable", 0) >= 1, mine[0]["spec"]


@pytest.mark.parametrize(("args", "complaint"), [
    (["--set", "gateway.replcas=3"], "additional properties 'replcas' not allowed"),
    (["--set", "adminApi=yes"], "/adminApi"),
    (["--set", "gateway.port=70000"], "/gateway/port"),
    (["--set", "jaeger.image.pullPolicy=Sometimes"], "/jaeger/image/pullPolicy"),
    (["--set", "collector.image.tag=latest"], "/collector/image/tag"),
    (["--set", "collector.tail.sampling.percent=150"], "/collector/tail/sampling/percent"),
    (["--set", "postgresql.sslMode=on"], "/postgresql/sslMode"),
    (["--set", "watch.replicas=2"], "/watch/replicas"),
    (["--set", "broker.enabled=false"], "/broker/existingSecret"),
    (["--set-json", 'collector.agent.tolerations={"operator": "Exists"}'],
     "/collector/agent/tolerations"),
])
def test_the_values_schema_refuses_what_would_render_wrong(args: list[str],
                                                          complaint: str) -> None:
    result = helm("template", RELEASE, str(CHART), *args)
    assert result.returncode != 0, f"{args} rendered"
    assert complaint in result.stderr, result.stderr


def test_the_values_schema_is_checked_at_all() -> None:
    """The control for the test above: the same misspelling renders without the schema."""
    assert (CHART / "values.schema.json").exists()
    result = helm("template", RELEASE, str(CHART), "--skip-schema-validation",
                  "--set", "gateway.replcas=3")
    assert result.returncode == 0, result.stderr


# -- the broker: feedback -> RabbitMQ -> watch ------------------------------------------

def test_feedback_and_the_watch_reach_the_broker_the_values_name(default: list[dict]) -> None:
    """In the cluster: both get the URL of the rendered RabbitMQ Service's AMQP port.
    External: both read it from the Secret broker.existingSecret, and no broker renders."""
    service = find(default, "Service", "rabbitmq")
    amqp = {p["name"]: p["port"] for p in service["spec"]["ports"]}["amqp"]
    for name in ("feedback", "watch"):
        env = container_env(find(default, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0])
        assert env.get("BROKER_URL") == (
            f"amqp://guest:guest@{service['metadata']['name']}:{amqp}/"), name
    for name in ("gateway", "session"):
        env = container_env(find(default, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0])
        assert "BROKER_URL" not in env, name
    external = render("default", CHART, "--set", "broker.enabled=false",
                      "--set", "broker.existingSecret=amqp-url")
    assert not [o for o in external
                if o["metadata"].get("labels", {}).get("app.kubernetes.io/component")
                == "rabbitmq"]
    for name in ("feedback", "watch"):
        env = container_env(find(external, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0])
        assert env.get("BROKER_URL") == {"secretKeyRef": {"name": "amqp-url", "key": "url"}}


def byte_size(text: str) -> int:
    """A RabbitMQ or Kubernetes memory size (300MB, 512Mi) in bytes."""
    number, unit = re.fullmatch(r"(\d+)\s*([A-Za-z]*)", text).groups()
    return int(number) * {"": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "Ki": 2**10,
                          "Mi": 2**20, "Gi": 2**30, "MiB": 2**20, "GiB": 2**30}[unit]


def test_the_broker_runs_like_composes(default: list[dict], compose: dict) -> None:
    """The image compose runs (RABBITMQ_IMAGE), its environment, the repository's
    infra/rabbitmq files, the ports in .env, as the image's user 999."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert str(values["watch"]["port"]) == ENV["WATCH_PORT"]
    assert str(values["broker"]["port"]) == ENV["RABBITMQ_PORT"]
    assert str(values["broker"]["managementPort"]) == ENV["RABBITMQ_MANAGEMENT_PORT"]
    spec = find(default, "StatefulSet", "rabbitmq")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == compose["rabbitmq"]["image"] == ENV["RABBITMQ_IMAGE"]
    assert container_env(container) == {k: str(v) for k, v in
                                         compose["rabbitmq"]["environment"].items()}
    assert spec["securityContext"]["runAsUser"] == 999
    assert compose["rabbitmq"]["user"] == "999:999"
    # What the node must be told (rabbitmq.conf says why), written out here rather than
    # read from the files the ConfigMap is rendered from.
    data = find(default, "ConfigMap", "rabbitmq")["data"]
    conf = dict(line.split(" = ", 1) for line in data["rabbitmq.conf"].splitlines()
                if line.strip() and not line.startswith("#"))
    assert conf.get("loopback_users") == "none", conf  # guest, from feedback's and the watch's pods
    assert conf.get("distribution.listener.interface") == "127.0.0.1", conf
    # Publishers blocked before the container's memory limit is reached, not after.
    limit = container["resources"]["limits"]["memory"]
    assert byte_size(conf["vm_memory_high_watermark.absolute"]) < byte_size(limit), (conf, limit)
    assert data["enabled_plugins"].strip() == "[rabbitmq_management].", data["enabled_plugins"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    config_file = container_env(container)["RABBITMQ_CONFIG_FILE"]
    assert str(Path(config_file).parent) in mounts and "/var/lib/rabbitmq" in mounts


# -- helm test: a segment through the gateway, its trace in Jaeger ---------------------

def test_helm_test_posts_through_the_gateway_and_asks_jaegers_api(default: list[dict]) -> None:
    (pod,) = [o for o in default if o["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    container = pod["spec"]["containers"][0]
    env = container_env(container)
    # The URLs are the rendered Services' names and ports, not the values they came from.
    def url(component: str, port_name: str) -> str:
        for service in (o for o in default if o["kind"] == "Service"):
            ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
            if (service["metadata"]["labels"]["app.kubernetes.io/component"] == component
                    and port_name in ports):
                return f"http://{service['metadata']['name']}:{ports[port_name]}"
        raise AssertionError(f"no Service of {component} with a port {port_name}")

    assert env["GATEWAY_URL"] == url("gateway", "http")
    assert env["JAEGER_URL"] == url("jaeger", "ui")
    # It runs the repository's script, mounted from the hook's ConfigMap.
    script = container["command"][-1]
    mount = next(m for m in container["volumeMounts"] if script.startswith(m["mountPath"]))
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
    config = next(o for o in default if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"] == volume["configMap"]["name"])
    assert config["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert config["data"][Path(script).name].strip() == ROUNDTRIP.read_text().strip()


ROUNDTRIP = CHART / "files/tests/roundtrip.py"


def _roundtrip_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("roundtrip", ROUNDTRIP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_helm_tests_trace_is_one_the_services_accept_and_the_tail_tier_keeps() -> None:
    """Its requests are valid for the gateway (the services' own models), and its baggage
    becomes a span attribute (services/common/baggage.py) that a policy of the tail tier
    keeps, so a sampling share cannot drop the trace it waits for."""
    from services.common.baggage import BAGGAGE_TO_ATTRIBUTES
    from services.session.models import NewSegment, NewSession

    roundtrip = _roundtrip_module()
    NewSession.model_validate(roundtrip.SESSION)
    NewSegment.model_validate(roundtrip.SEGMENT)
    key, value = roundtrip.BAGGAGE.split("=")
    assert key in BAGGAGE_TO_ATTRIBUTES
    tail = yaml.safe_load((ROOT / "infra/collector/sampling-tail.yaml").read_text())
    kept = [p for p in tail["processors"]["tail_sampling"]["policies"]
            if p["type"] == "string_attribute" and p["string_attribute"]["key"] == key
            and value in p["string_attribute"]["values"]]
    assert kept, f"no tail-sampling policy keeps {key}={value}"

"""deploy/ stays true: every YAML parses and carries what the capacity model computes, the server commands
in the manifests and the image parse with the real `segments serve` parser, the Dockerfile has its stages,
non-root user and health check, and docs/CAPACITY.md quotes the model's current tables. (The health-check
module the image and the probes run is tested against a real server in tests/test_metrics.py.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

from benchmarks.capacity_model import manifest_values, markdown, measured, report
from service.cli import build_parser

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
RAYCLUSTER = DEPLOY / "kuberay" / "raycluster.yaml"
LAUNCHER = DEPLOY / "ray-cluster.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return manifest_values()


def _documents(path: Path) -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert documents and all(isinstance(d, dict) for d in documents), path
    return documents


def _kind(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in documents if d.get("kind") == kind]
    assert len(found) == 1, f"{kind}: {len(found)} documents"
    return found[0]


def _serve_arguments(command_text: str) -> Any:
    """The `segments serve ...` inside a shell line, parsed by the CLI's own parser."""
    words = shlex.split(command_text)
    start = next(i for i, w in enumerate(words) if w == "segments" and words[i + 1] == "serve")
    end = next((i for i in range(start, len(words)) if words[i] in (">>", ">", "&", ";", "&&")), len(words))
    args = build_parser().parse_args(words[start + 1 : end])
    assert args.command == "serve"
    return args


def _check_cluster_serve(args: Any, model: dict[str, Any]) -> None:
    assert args.data_dir == "/data" and args.port == 50051 and args.host == "0.0.0.0"
    assert args.shards == model["shards"]
    assert args.ray_address == "auto" and args.placement == "spread" and args.shard_resource == "segments_shard"
    assert args.metrics_port == 9090 and args.log_format == "json"
    assert args.auth, "a server on 0.0.0.0 needs tokens (or TLS): docs/SECURITY.md"


def test_every_yaml_under_deploy_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert {RAYCLUSTER, LAUNCHER} <= set(paths)
    for path in paths:
        _documents(path)


def test_kuberay_manifest_is_sized_by_the_capacity_model(model: dict[str, Any]) -> None:
    documents = _documents(RAYCLUSTER)
    claim = _kind(documents, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{model['storage_gib']}Gi"

    cluster = _kind(documents, "RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    assert cluster["spec"]["rayVersion"] == ray.__version__
    head = cluster["spec"]["headGroupSpec"]
    head_pod = head["template"]["spec"]
    (head_container,) = head_pod["containers"]
    head_resources = {"cpu": str(model["head_cpus"]), "memory": f"{model['head_memory_gib']}Gi"}
    assert head_container["resources"] == {"requests": head_resources, "limits": head_resources}
    assert head["rayStartParams"]["num-cpus"] == "0"
    _check_cluster_serve(_serve_arguments(head_container["args"][0]), model)
    assert "$KUBERAY_GEN_RAY_START_CMD" in head_container["args"][0].replace("{", "").replace("/--block/}", "")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = head_container[probe]["exec"]["command"]
        assert command[:3] == ["python", "-m", "service.healthcheck"], probe
    assert "--alive" in head_container["livenessProbe"]["exec"]["command"]
    assert "--alive" not in head_container["readinessProbe"]["exec"]["command"]
    annotations = head["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9090"

    (workers,) = cluster["spec"]["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == model["worker_replicas"]
    assert workers["rayStartParams"]["num-cpus"] == str(model["worker_cpus"])
    assert json.loads(json.loads(workers["rayStartParams"]["resources"])) == {"segments_shard": model["shards_per_worker"]}
    assert model["worker_replicas"] * model["shards_per_worker"] >= model["shards"]
    (worker_container,) = workers["template"]["spec"]["containers"]
    worker_resources = {"cpu": str(model["worker_cpus"]), "memory": f"{model['worker_memory_gib']}Gi"}
    assert worker_container["resources"] == {"requests": worker_resources, "limits": worker_resources}

    for pod in (head_pod, workers["template"]["spec"]):
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
                  if "persistentVolumeClaim" in v}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert claims[mounts["/data"]] == claim["metadata"]["name"]
        assert pod["terminationGracePeriodSeconds"] >= 30

    service = _kind(documents, "Service")
    assert {p["port"] for p in service["spec"]["ports"]} == {50051, 9090}
    assert service["spec"]["selector"]["ray.io/node-type"] == "head"


def test_launcher_yaml_is_sized_by_the_capacity_model(model: dict[str, Any]) -> None:
    (config,) = _documents(LAUNCHER)
    assert config["provider"]["type"] and config["cluster_name"]
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"]["CPU"] == 0 and head["max_workers"] == 0
    (worker_name,) = [name for name in types if name != config["head_node_type"]]
    worker = types[worker_name]
    assert worker["resources"] == {"CPU": model["worker_cpus"], "segments_shard": model["shards_per_worker"]}
    assert worker["min_workers"] == worker["max_workers"] == config["max_workers"] == model["worker_replicas"]
    serve_lines = [line for line in config["head_start_ray_commands"] if "segments serve" in line]
    assert len(serve_lines) == 1
    _check_cluster_serve(_serve_arguments(serve_lines[0]), model)
    worker_start = " ".join(config["worker_start_ray_commands"])
    assert f'--resources=\'{{"segments_shard": {model["shards_per_worker"]}}}\'' in worker_start
    assert f"--num-cpus={model['worker_cpus']}" in worker_start
    assert any("/data" in option for option in config["docker"]["run_options"])


def test_dockerfile_has_builder_and_runtime_stages_a_non_root_user_and_a_health_check() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [line.strip() for line in re.sub(r"\\\n", " ", text).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    stages = [line.split()[-1] for line in instructions if line.upper().startswith("FROM ")]
    assert stages == ["builder", "runtime"]
    runtime = instructions[next(i for i, line in enumerate(instructions) if line.endswith("AS runtime")):]
    assert any(line.startswith("COPY --from=builder") for line in runtime)
    assert not any(line.startswith("RUN") and "pip install" in line for line in runtime), "no build tools in runtime"
    (user,) = [line for line in runtime if line.startswith("USER ")]
    assert "root" not in user and not re.search(r"\b0\b", user)
    (health,) = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert '"service.healthcheck"' in health and "--start-period=" in health
    assert any(line.startswith("EXPOSE") and "50051" in line and "9090" in line for line in runtime)
    entrypoint = json.loads(next(line for line in runtime if line.startswith("ENTRYPOINT "))[len("ENTRYPOINT "):])
    command = json.loads(next(line for line in runtime if line.startswith("CMD "))[len("CMD "):])
    args = build_parser().parse_args([*entrypoint[1:], *command])
    assert entrypoint == ["segments"] and args.command == "serve" and args.data_dir == "/data" and args.auth
    pinned = dict(line.split("==", 1) for line in (DEPLOY / "constraints.txt").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    assert pinned["ray"] == ray.__version__
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignored[ignored.index("*") + 1 :], ".dockerignore lets the sources back in after '*'"
    for needed in ("pyproject.toml", "indexes/", "actors/", "service/", "proto/", "deploy/constraints.txt"):
        assert f"!{needed}" in ignored, needed


def test_capacity_doc_quotes_the_model() -> None:
    doc = (REPO / "docs" / "CAPACITY.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- capacity-model:start[^>]*-->\n(.*?)\n<!-- capacity-model:end -->", doc, re.DOTALL)
    assert block is not None, "docs/CAPACITY.md lost its generated block"
    assert block.group(1).strip() == markdown(report(measured())).strip(), \
        "docs/CAPACITY.md is stale: paste `python -m benchmarks.capacity_model` between the markers"

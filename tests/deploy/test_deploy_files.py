"""The deployment files a platform team uses, validated by their own tools and schemas:
Kubernetes manifests against the Kubernetes 1.31 API schemas (kubernetes-validate), the
compose file against the Compose Specification schema, the HAProxy file by `haproxy -c`,
and the pack tarball the ConfigMap carries."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.31"
CONFIGMAP_LIMIT = 1024 * 1024


def manifests() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text()):
            documents.append((f"{name}:{document['kind']}/{document['metadata']['name']}",
                              document))
    return documents


@pytest.mark.parametrize(("where", "document"), manifests(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_each_kubernetes_manifest_is_valid_for_the_api(where: str, document: dict) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_deployment_probes_readiness_and_liveness_and_mounts_the_pack() -> None:
    deployment = next(d for _, d in manifests() if d["kind"] == "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["pack-archive"]["configMap"]["name"] == "cds-rule-pack"
    kinds = {d["kind"] for _, d in manifests()}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds


def test_the_pack_tarball_holds_the_pack_and_fits_a_configmap(tmp_path: Path) -> None:
    script = tmp_path / "pack.sh"
    shutil.copy(K8S / "pack.sh", script)
    subprocess.run(["sh", str(script), str(ROOT / "rules")], check=True, capture_output=True)
    archive = tmp_path / "rules.tar.gz"
    assert archive.stat().st_size * 4 / 3 < CONFIGMAP_LIMIT  # base64 in binaryData
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "rules/pack.yaml" in names
    assert "rules/terminology/products.json" in names


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)  # its $schema names draft-07
    services = compose["services"]
    assert {"cds-1", "cds-2", "haproxy", "postgres", "redis"} <= set(services)
    assert services["cds-1"]["environment"]["CDS_REPLAY_STORE"] == "redis"


def test_the_haproxy_configuration_is_valid_and_checks_readiness() -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is not installed (scripts/test.d/40-haproxy.sh installs it)")
    result = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "option httpchk GET /readyz" in (DEPLOY / "haproxy.cfg").read_text()

"""deploy/k8s: every built-in kind validated by kubernetes-validate (strict, oldest and newest schema it ships),
the KEDA ScaledObject by a JSON schema of the fields used here, and the pieces checked against each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_paths import DEPLOY
from pydantic import ValidationError

K8S = DEPLOY / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]

# KEDA's CRD is not a built-in kind: the structure of a ScaledObject with a Redis list trigger (KEDA 2.x).
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"enum": ["Deployment", "StatefulSet"]},
                        "name": {"type": "string", "minLength": 1},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "fallback": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "redis"},
                            "name": {"type": "string"},
                            "authenticationRef": {"type": "object", "required": ["name"]},
                            "metadata": {
                                "type": "object",
                                "required": ["listName", "listLength"],
                                "anyOf": [
                                    {"required": ["address"]},
                                    {"required": ["addressFromEnv"]},
                                    {"required": ["host", "port"]},
                                ],
                                # KEDA reads every metadata value as a string.
                                "additionalProperties": {"type": "string"},
                                "properties": {"listLength": {"type": "string", "pattern": "^[1-9][0-9]*$"}},
                            },
                        },
                    },
                },
            },
        },
    },
}


def load(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / name).read_text()))


def pod_spec(name: str) -> dict[str, Any]:
    return dict(load(name)["spec"]["template"]["spec"])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("manifest", [m for m in MANIFESTS if m.name != "keda-scaledobject.yaml"], ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(manifest: Path, version: str) -> None:
    for document in yaml.safe_load_all(manifest.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_kubernetes_validate_rejects_a_broken_deployment() -> None:
    deployment = load("deployment.yaml")
    deployment["spec"]["replicas"] = "three"
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_keda_scaled_object_scales_the_worker_deployment_by_the_redis_queue() -> None:
    scaled = load("keda-scaledobject.yaml")
    jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)
    assert scaled["spec"]["scaleTargetRef"]["name"] == load("worker-deployment.yaml")["metadata"]["name"]
    assert scaled["metadata"]["namespace"] == load("worker-deployment.yaml")["metadata"]["namespace"]
    broken = yaml.safe_load((K8S / "keda-scaledobject.yaml").read_text())
    broken["spec"]["triggers"][0]["metadata"]["listLength"] = 5  # a number, which KEDA refuses
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCALED_OBJECT_SCHEMA)


def test_kustomization_applies_every_manifest_but_the_secret_template_and_sets_the_image() -> None:
    kustomization = load("kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(m.name for m in MANIFESTS if m.name != "secret.yaml")
    (image,) = kustomization["images"]
    for deployment in ("deployment.yaml", "worker-deployment.yaml"):
        assert pod_spec(deployment)["containers"][0]["image"].split(":")[0] == image["name"]


def test_detector_probes_resources_and_locked_down_container() -> None:
    spec = pod_spec("deployment.yaml")
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    (container,) = spec["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys() <= container["resources"]["limits"].keys()
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert not container["image"].endswith(":latest")
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    home = load("configmap.yaml")["data"]["POLYPDET_HOME"]
    assert "persistentVolumeClaim" in mounts[home] and "emptyDir" in mounts["/tmp"], "the only writable places"
    assert mounts["/run/secrets"]["secret"]["secretName"] == load("secret.yaml")["metadata"]["name"]
    assert container["envFrom"][0]["configMapRef"]["name"] == load("configmap.yaml")["metadata"]["name"]


def home_claim(deployment: str) -> tuple[str, str]:
    """The claim a deployment's container mounts at POLYPDET_HOME (from its ConfigMap), and that path."""
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    config = next(e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e)
    assert config == load("configmap.yaml")["metadata"]["name"]
    home = load("configmap.yaml")["data"]["POLYPDET_HOME"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == home]
    assert not mount.get("readOnly", False) and "subPath" not in mount
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    return volume["persistentVolumeClaim"]["claimName"], home


def test_detectors_and_video_workers_share_one_read_write_many_home() -> None:
    """The API writes a video job's files under POLYPDET_HOME/jobs; a worker pod on any node must read them."""
    claim, home = home_claim("deployment.yaml")
    assert home_claim("worker-deployment.yaml") == (claim, home)
    pvc = load("pvc.yaml")
    assert (pvc["kind"], pvc["metadata"]["name"]) == ("PersistentVolumeClaim", claim)
    assert pvc["metadata"]["namespace"] == load("deployment.yaml")["metadata"]["namespace"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_service_hpa_and_pdb_select_the_detector() -> None:
    deployment = load("deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = load("service.yaml")["spec"]
    assert service["selector"].items() <= labels.items()
    port_names = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert service["ports"][0]["targetPort"] in port_names
    assert load("pdb.yaml")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = load("hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}


def test_config_has_the_seeds_names_and_the_secret_template_fails_closed() -> None:
    from polypdet.config import Settings

    config = load("configmap.yaml")["data"]
    assert {"MODEL_PATH", "CONFIDENCE_THRESHOLD", "MAX_DETECTIONS", "REDIS_URL"} <= config.keys()
    placeholders = load("secret.yaml")["stringData"]
    assert {"database_url", "master_key", "jwt_secret", "pseudonym_key"} == placeholders.keys()
    with pytest.raises(ValidationError, match="insecure configuration"):
        Settings(
            environment="production",
            master_key=placeholders["master_key"],
            jwt_secret=placeholders["jwt_secret"],
            pseudonym_key=placeholders["pseudonym_key"],
        )

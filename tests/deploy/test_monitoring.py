"""deploy/monitoring: Prometheus configs and SLO alerts checked and unit-tested with Debian's promtool; the Grafana
dashboard's queries parsed by promtool and matched against the metrics the service really exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_paths import DEPLOY

MONITORING = DEPLOY / "monitoring"
PROMTOOL = shutil.which("promtool")
METRIC = re.compile(r"\b(polypdet_[a-z_]+)\b")


@pytest.fixture(scope="module")
def promtool() -> str:
    if PROMTOOL is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus")
        pytest.skip("promtool is not installed (.ci/run installs Debian's prometheus)")
    return PROMTOOL


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=60)


def exported_series() -> set[str]:
    """Every sample name the service's metrics module exposes (``_total``, ``_bucket``, ...)."""
    from prometheus_client import REGISTRY

    import polypdet.api.metrics  # noqa: F401  (registers the collectors)

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("polypdet_")
        for suffix in suffixes.get(family.type, [""])
    }


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_compose_config_and_rules_are_valid(promtool: str) -> None:
    result = run(promtool, "check", "config", str(MONITORING / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_kubernetes_config_is_valid_apart_from_the_discovery_debian_leaves_out(promtool: str, tmp_path: Path) -> None:
    # Debian builds Prometheus without Kubernetes discovery: check everything else (relabelling, rules).
    config = yaml.safe_load((MONITORING / "prometheus-kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["polypdet"]
    job["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
    del job["kubernetes_sd_configs"]
    shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def series(status: str, per_minute: int, instance: str = "a") -> dict[str, str]:
    labels = f'route="/api/detect",method="POST",status="{status}",job="polypdet",instance="{instance}"'
    return {"series": f"polypdet_http_requests_total{{{labels}}}", "values": f"0+{per_minute}x40"}


def latency(le_counts: dict[str, int]) -> list[dict[str, str]]:
    labels = 'route="/api/detect",method="POST",job="polypdet",instance="a"'
    return [
        {"series": f'polypdet_http_request_seconds_bucket{{{labels},le="{le}"}}', "values": f"0+{count}x40"}
        for le, count in le_counts.items()
    ]


def alert(name: str, severity: str, summary: str | None, at: str = "20m", **labels: str) -> dict[str, Any]:
    expected = [{"exp_labels": {"severity": severity, **labels}, "exp_annotations": {"summary": summary}}]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected if summary else []}


def test_slo_alerts_fire_exactly_when_the_objectives_are_missed(promtool: str, tmp_path: Path) -> None:
    cases = [
        # 2 % of detections fail: the error-rate alert and the fast budget burn (> 1.44 %) fire.
        {
            "input_series": [series("200", 980), series("503", 20)],
            "alert_rule_test": [
                alert("PolypdetErrorRateHigh", "warning", "More than 0.1 % of detections fail (2% over 5 min)"),
                alert(
                    "PolypdetErrorBudgetBurn",
                    "critical",
                    "Error budget of the 99.9 % availability objective burning fast",
                    at="40m",
                ),
            ],
        },
        # 0.05 % fail: within the objective, nothing fires.
        {
            "input_series": [series("200", 1999), series("500", 1)],
            "alert_rule_test": [
                alert("PolypdetErrorRateHigh", "warning", None),
                alert("PolypdetErrorBudgetBurn", "critical", None, at="40m"),
            ],
        },
        # Half the requests take 100-250 ms: P95 misses 100 ms, P99 stays under 500 ms.
        {
            "input_series": latency({"0.05": 500, "0.1": 500, "0.25": 1000, "0.5": 1000, "+Inf": 1000}),
            "alert_rule_test": [
                alert("PolypdetLatencyP95High", "warning", "P95 detection latency 235ms (objective 100 ms)"),
                alert("PolypdetLatencyP99High", "warning", None),
            ],
        },
        # One replica stops answering; then all of them.
        {
            "input_series": [
                {"series": 'up{job="polypdet",instance="a"}', "values": "1x40"},
                {"series": 'up{job="polypdet",instance="b"}', "values": "1x5 0x35"},
            ],
            "alert_rule_test": [
                alert(
                    "PolypdetReplicaDown",
                    "warning",
                    "Replica b is not answering /metrics",
                    at="10m",
                    instance="b",
                    job="polypdet",
                ),
                alert("PolypdetUnavailable", "critical", None, at="10m"),
            ],
        },
    ]
    shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **case} for case in cases],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run(promtool, "test", "rules", str(tmp_path / "tests.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_parse_and_use_only_exported_metrics(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 10
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(queries)],
            }
        ]
    }
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(rules))
    result = run(promtool, "check", "rules", str(tmp_path / "dashboard-rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    exported = exported_series()
    alert_text = (MONITORING / "alerts.yml").read_text()
    used = {m for text in [*queries, alert_text] for m in METRIC.findall(text)}
    missing = {m for m in used if m not in exported}
    assert not missing, f"the dashboard or alerts query metrics the service does not export: {missing}"

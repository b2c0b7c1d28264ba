"""No dead keys: every key `Pulumi.yaml` declares does something. A different valid value of each key,
set in the production stack file, either changes the plan (some resource's inputs, or which resources
exist) or is refused (exit 1 naming a policy, exit 2 naming the key). A key that does neither misleads
whoever reads the stack file, so this test fails for it; a new key must be added to the table below.

Secrets are never decrypted offline; each must reach some resource's inputs (its marked placeholder
is found there, still wrapped as a secret).

Every case is planned in one batch (`run_plans`: the SDKs and the pack load once, each case in a fresh
process of its own), on one test worker (the `dead-keys` group).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops import plan as planlib
from ops.plan import StackPlan, load_project
from ops.plan.stack_config import placeholder
from tests.plan.test_plan import ROOT, project_copy, set_config

pytestmark = pytest.mark.xdist_group("dead-keys")

STACK = "prod"

# A different valid value of every non-secret key, as it would be written in Pulumi.prod.yaml.
ALTERNATIVES: dict[str, str] = {
    "environment": "staging",
    "domain": "chefchatz.app",
    "databaseName": "chefchatz-main",
    "featureDebug": "true",
    "featureAnalytics": "false",
    "featureAiLimits": "relaxed",
    "vercelTeamId": "team_a1B2c3D4e5F6g7H8i9J0k1L2",
    "nodeVersion": "20.x",
    "supabaseUrl": "https://otherprojectref00000.supabase.co",
    "supabaseProjectRef": "otherprojectref00000",
    "supabaseRegion": "eu-central-1",
    "appRepository": "chefchatz-web",
    "githubOwnsRepositoryRules": "false",
    "githubCreateOidcProvider": "false",
    "opsToolRepository": "https://github.com/chefchatz/chefchatz-infra-fork",
    "opsToolCommit": "fedcba9876543210fedcba9876543210fedcba98",
    "releaseAppClientId": "Iv23liOtherRelease",
    "githubRequiredStatusChecks": "[test, build]",
    "releaseVersioning": "calendar",
    "releaseChangelog": "false",
    "releaseApprovals": "[tech-lead, product-owner, security]",
    "releaseSchedule": "weekly",
    "rollbackErrorRate": "0.5%",
    "rollbackResponseTime": "800ms",
    "rollbackFailedTransactions": "0.05%",
    "rollbackAutomatic": "false",
    "rollbackNotifications": "[email:sre@chefchatz.com]",
    "rollbackDataIntegrity": "best-effort",
    "healthCheckPath": "/api/ready",
    "healthCheckInterval": "10s",
    "healthCheckTimeout": "3s",
    "healthCheckUnhealthyThreshold": "1",
    "sloApdex": '"0.995"',
    "sloP95": "150ms",
    "sloP99": "400ms",
    "sloErrorBudget": "0.05%",
    "sloErrorBudgetWindow": "7d",
    "sloDrainEnabled": "false",
    "sloDrainConcurrency": "20",
    "sloApdexThreshold": "100ms",
    "rolloutStages": "[10, 50, 100]",
    "rolloutStepDuration": "5m",
    "tlsProvider": "custom",
    "tlsAutoRenew": "false",
    "tlsMinimumVersion": "TLS1.3",
    "tlsPreferredCiphers": "[ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES256-GCM-SHA384]",
    "backupsEnabled": "false",
    "backupDatabaseFrequency": "3h",
    "backupDatabaseRetention": "60d",
    "backupDatabaseType": "full",
    "backupAssetsFrequency": "12h",
    "backupAssetsRetention": "120d",
    "backupAssetsType": "incremental",
    "backupPointInTimeRecovery": "false",
    "backupReplicaRegion": "eu-west-1",
    "backupImage": "ghcr.io/chefchatz/chefchatz-infra:0.2.0@sha256:" + "1" * 64,
    "supabaseStorageBucket": "media",
    "restoreTaskCpu": "4096",
    "restoreTaskMemory": "16384",
    "restoreTaskStorage": "150",
    "restoreCapacityAlarmPercent": "70",
    "drRpo": "30m",
    "drRto": "10m",
    "drDatabaseFailover": "manual",
    "drRegionFailover": "automatic",
    "drDataReconciliation": "manual",
}


def declared() -> dict[str, dict[str, Any]]:
    return dict(load_project(ROOT).declarations)


def test_the_table_has_a_different_value_for_every_declared_key() -> None:
    keys = {key for key, spec in declared().items() if not spec.get("secret")}
    assert sorted(keys - set(ALTERNATIVES)) == [], "a new key needs a different valid value in ALTERNATIVES"
    assert sorted(set(ALTERNATIVES) - keys) == [], "ALTERNATIVES names keys Pulumi.yaml no longer declares"
    assert len(declared()) >= 70


def fingerprint(plan: StackPlan, project: Path) -> dict[str, str]:
    """urn -> the resource's inputs and options, with the project's own path taken out (assets
    name files by path, and every case plans its own copy)."""
    return {
        # The SDK gathers dependencies in a set: their order says nothing.
        resource["urn"]: json.dumps(
            [resource["properties"], resource["options"], sorted(resource["dependencies"])], sort_keys=True
        ).replace(str(project), "<project>")
        for resource in plan.resources
    }


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[StackPlan, Path]]:
    """The committed stack and one case per key, planned in one batch: name -> (plan, project)."""
    jobs: dict[str, Path] = {
        "baseline": project_copy(tmp_path_factory.mktemp("baseline")),
        "baseline-again": project_copy(tmp_path_factory.mktemp("baseline-again")),
    }
    for key, value in ALTERNATIVES.items():
        project = project_copy(tmp_path_factory.mktemp(key))
        set_config(project, STACK, key, value)
        jobs[key] = project
    plans = planlib.run_plans([(project, STACK) for project in jobs.values()])
    return {name: (plan, jobs[name]) for name, plan in zip(jobs, plans, strict=True)}


def test_the_baseline_plans_clean_and_the_same_twice(planned: dict[str, tuple[StackPlan, Path]]) -> None:
    baseline, project = planned["baseline"]
    assert planlib.exit_code([baseline]) == 0, baseline.config_error or baseline.mandatory_violations
    # Otherwise a difference would prove nothing: the committed stack, planned again, is identical.
    again, again_project = planned["baseline-again"]
    assert fingerprint(baseline, project) == fingerprint(again, again_project)


@pytest.mark.parametrize("key", sorted(ALTERNATIVES))
def test_a_different_value_changes_the_plan_or_is_refused(planned: dict[str, tuple[StackPlan, Path]], key: str) -> None:
    plan, project = planned[key]
    code = planlib.exit_code([plan])
    if code == 2:
        assert f"chefchatz:{key}" in (plan.config_error or ""), plan.config_error
        return
    if code == 1:
        return  # refused by a policy: the value is judged, so the key is alive
    baseline, base_project = planned["baseline"]
    before, after = fingerprint(baseline, base_project), fingerprint(plan, project)
    changed = sorted(urn for urn in before.keys() | after.keys() if before.get(urn) != after.get(urn))
    assert changed, f"chefchatz:{key}: {ALTERNATIVES[key]} plans exactly like the committed value: a dead key"


@pytest.mark.parametrize("key", sorted(k for k, spec in declared().items() if spec.get("secret")))
def test_every_secret_reaches_some_resource_still_secret(planned: dict[str, tuple[StackPlan, Path]], key: str) -> None:
    baseline, _ = planned["baseline"]
    marker = placeholder(f"chefchatz:{key}")
    carriers = [r["urn"] for r in baseline.resources if marker in json.dumps(r["properties"])]
    assert carriers, f"chefchatz:{key} reaches no resource: a dead secret"
    for resource in baseline.resources:
        text = json.dumps(resource["properties"])
        if marker in text:
            # Wherever it appears, it is inside a secret wrapper, never a plain input.
            assert text.count(marker) == text.count("1b47061264138c4ac30d75fd1eb44270"), resource["urn"]

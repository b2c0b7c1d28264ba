"""The sources of truth are pinned exactly, installed from a lockfile, and the helper reads them strictly."""

from __future__ import annotations

import json
import re

import pytest

from tests.contracts import tsc
from tests.contracts.schemas import NODE_DIR, pinned_version, schemas

PINNED = (
    "@vercel/sdk",
    "@octokit/plugin-rest-endpoint-methods",
    "@octokit/openapi",
    "supabase-management-js",
    "@types/aws-lambda",
    "typescript",
)


def test_every_schema_package_is_pinned_to_one_exact_version_with_an_integrity_hash() -> None:
    declared = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    assert sorted(declared) == sorted(PINNED), declared
    for name, version in declared.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned exactly, not {version!r}"
        assert pinned_version(name) == version, f"the lockfile's {name} is not package.json's {version}"
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    for path, entry in lock["packages"].items():
        if path:
            assert str(entry.get("integrity", "")).startswith("sha512-"), f"{path} has no sha512 integrity hash"


def test_the_installed_packages_are_the_locked_ones() -> None:
    for name in PINNED:
        installed = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())["version"]
        assert installed == pinned_version(name), f"{name} {installed} is installed, the lockfile has another"


def test_listing_deployments_is_v7_in_the_pinned_sdk() -> None:
    op = schemas().vercel_operations()["getDeployments"]
    assert (op["method"], op["path"]) == ("GET", "/v7/deployments"), op


def test_the_helper_names_undocumented_missing_and_coerced_fields() -> None:
    body = {
        "rollingRelease": {
            "state": "ACTIVE",
            "activeStageIndex": 1,
            "stages": [{"index": "1", "targetPercentage": 5, "isFinalStage": False, "requireApproval": True}],
        }
    }
    verdict = schemas().vercel_response("getRollingRelease", 200, body)
    assert "rollingRelease.activeStageIndex" in verdict.undocumented, verdict
    assert "rollingRelease.canaryDeployment: missing (required)" in verdict.problems, verdict
    assert 'rollingRelease.stages[0].index: "1" is not number' in verdict.problems, verdict


def test_the_helper_names_an_unknown_version_query_and_body() -> None:
    tool = schemas()
    assert tool.vercel_request("GET", "/v6/deployments", ["projectId"]).operation is None
    verdict = tool.vercel_request("GET", "/v9/projects/prj_1", ["rollbackInfo"])
    assert verdict.operation == "getProject" and "rollbackInfo" in verdict.problems[0], verdict
    verdict = tool.vercel_request("POST", "/v1/projects/prj_1/rollback/dpl_1", [], {"description": None})
    assert verdict.problems == ('requestRollback takes no request body, but one was sent: {"description":null}',)


def test_the_type_checker_is_typescripts_javascript_compiler() -> None:
    # 5.x is the compiler written in TypeScript itself, run by node; 7.x is a native port with other binaries.
    assert pinned_version("typescript").startswith("5."), pinned_version("typescript")
    assert (NODE_DIR / "node_modules" / "typescript" / "bin" / "tsc").is_file()


def test_a_missing_compiler_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsc, "TSC", NODE_DIR / "node_modules" / "typescript" / "bin" / "no-such-tsc")
    check = tsc.FieldsExist("any", "aws-lambda", ("LambdaFunctionURLEvent",), "LambdaFunctionURLEvent", frozenset())
    with pytest.raises(RuntimeError, match="pinned TypeScript compiler is not installed"):
        tsc.typecheck([check])

"""The scheduled drift workflow: what it runs, with which rights, and what its scripts really do.

The preview step's shell script runs here against a stand-in `pulumi` on PATH (the report it writes
is the evidence `chefchatz signoff` reads), and the issue step's script runs under Node.js with a
recording stand-in of the GitHub client.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.signoff import checks as so

from .conftest import REPO_ROOT, REPO_WORKFLOWS

DRIFT = REPO_WORKFLOWS / "drift.yml"
PREVIEW_STEP = "pulumi preview --refresh --expect-no-changes --policy-pack policies"
REFRESH_COMMAND = (
    "pulumi preview --stack prod --refresh --expect-no-changes --policy-pack policies --json --non-interactive"
    " --event-log preview-events.jsonl"
)


def workflow() -> dict[str, Any]:
    document = yaml.load(DRIFT.read_text(), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    assert isinstance(document, dict)
    return document


def step(job: str, name: str) -> dict[str, Any]:
    for entry in workflow()["jobs"][job]["steps"]:
        if entry.get("name") == name:
            return dict(entry)
    raise AssertionError(f"drift.yml job {job} has no step {name!r}")


def test_drift_runs_on_a_schedule_and_on_demand() -> None:
    on = workflow()["on"]
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert len(on["schedule"]) == 1 and len(on["schedule"][0]["cron"].split()) == 5


def test_every_stack_of_the_project_is_checked_by_both_jobs() -> None:
    stacks = sorted(p.name.split(".")[1] for p in REPO_ROOT.glob("Pulumi.*.yaml"))
    for job in ("preview", "issue"):
        assert sorted(workflow()["jobs"][job]["strategy"]["matrix"]["stack"]) == stacks, job


def test_rights_are_split_cloud_reads_in_one_job_issue_writes_in_the_other() -> None:
    document = workflow()
    assert document["permissions"] == {}
    assert document["jobs"]["preview"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert document["jobs"]["issue"]["permissions"] == {"issues": "write"}


def test_cloud_credentials_come_from_oidc_only() -> None:
    text = DRIFT.read_text()
    assert "secrets." not in text and "aws-access-key-id" not in text
    aws = step("preview", "AWS credentials (OIDC, read-only preview role)")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    pulumi = step("preview", "Pulumi Cloud token (OIDC exchange)")
    assert pulumi["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:organization"


def test_drift_is_a_refresh_preview_that_expects_no_changes_and_runs_the_policy_pack(tmp_path: Path) -> None:
    # Run for real: the arguments the stand-in `pulumi` received are what GitHub's runner would pass.
    _, _, args = run_preview_script(tmp_path, json.dumps(CLEAN), "", 0)
    assert args == REFRESH_COMMAND.split()[1:], "a plain preview compares with recorded state, not the cloud"


def test_the_issue_job_runs_for_drifting_stacks_but_not_cancelled_runs() -> None:
    job = workflow()["jobs"]["issue"]
    assert job["needs"] == "preview" and job["if"] == "${{ !cancelled() }}"


# --- the preview script, run for real against a stand-in `pulumi` ------------------------------------


def run_preview_script(
    tmp_path: Path, stdout: str, stderr: str, code: int, event_log: str = ""
) -> tuple[dict[str, Any], str, list[str]]:
    """Run the step's script; the stand-in `pulumi` prints ``stdout`` (the digest) and ``stderr``, exits
    ``code`` and, like the CLI, writes ``event_log`` to the path given by `--event-log` — a flag that the
    CLI registers only when PULUMI_DEBUG_COMMANDS is true, as the stand-in checks."""
    if shutil.which("jq") is None:
        pytest.fail("jq is not installed: the drift workflow's script needs it (GitHub's runners have it)")
    fake = tmp_path / "bin"
    fake.mkdir(parents=True)
    (tmp_path / "out.json").write_text(stdout)
    (tmp_path / "err.txt").write_text(stderr)
    (tmp_path / "events.jsonl").write_text(event_log)
    (fake / "pulumi").write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo "$@" > {tmp_path}/args
            while [ $# -gt 0 ]; do
              if [ "$1" = --event-log ]; then
                [ "$PULUMI_DEBUG_COMMANDS" = true ] || {{ echo "error: unknown flag: --event-log" >&2; exit 255; }}
                cat {tmp_path}/events.jsonl > "$2"
              fi
              shift
            done
            cat {tmp_path}/out.json
            cat {tmp_path}/err.txt >&2
            exit {code}
            """
        )
    )
    (fake / "pulumi").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    output = tmp_path / "github-output"
    preview = step("preview", PREVIEW_STEP)
    # The step's own environment, but for the values GitHub fills in (the matrix's stack is set below).
    step_env = {name: value for name, value in preview.get("env", {}).items() if "${{" not in value}
    env = {
        **step_env,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "STACK": "prod",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "chefchatz/chefchatz-infra",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": "0" * 40,
    }
    script = preview["run"]
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "args").read_text().split()
    return json.loads((work / "drift-prod.json").read_text()), output.read_text(), args


CLEAN = {
    "steps": [{"op": "same", "urn": "urn:pulumi:prod::chefchatz::pulumi:pulumi:Stack::chefchatz-prod"}],
    "changeSummary": {"same": 1},
}
ENVIRONMENT = "urn:pulumi:prod::chefchatz::github:index/repositoryEnvironment:RepositoryEnvironment::production"
VARIABLE = "urn:pulumi:prod::chefchatz::vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable::api-url"
BUCKET = "urn:pulumi:prod::chefchatz::aws:s3/bucket:Bucket::db"
# The digest of `pulumi preview --refresh --json` (Pulumi's previewStep: op, urn, diffReasons, detailedDiff):
# a reviewer removed in GitHub's UI (found by the refresh: update with a detailedDiff), a Vercel variable
# edited in the dashboard (the program would set it back: diffReasons only), a bucket deleted by hand,
# and a refresh that found the cloud as recorded (op refresh, no detailedDiff: not drift).
DRIFTED = {
    "steps": [
        {"op": "same", "urn": "urn:pulumi:prod::chefchatz::pulumi:pulumi:Stack::chefchatz-prod"},
        {
            "op": "update",
            "urn": ENVIRONMENT,
            "diffReasons": ["reviewers"],
            "detailedDiff": {"reviewers[0].users[1]": {"kind": "delete", "inputDiff": False}},
        },
        {"op": "update", "urn": VARIABLE, "diffReasons": ["value"]},
        {"op": "delete", "urn": BUCKET},
        {"op": "refresh", "urn": "urn:pulumi:prod::chefchatz::aws:sns/topic:Topic::alerts"},
    ],
    "changeSummary": {"same": 2, "update": 2, "delete": 1},
}


def test_a_clean_preview_becomes_a_report_with_exit_code_0(tmp_path: Path) -> None:
    report, output, _ = run_preview_script(tmp_path, json.dumps(CLEAN), "", 0)
    assert report["kind"] == "drift-report" and report["stack"] == "prod" and report["exit_code"] == 0
    assert report["command"] == REFRESH_COMMAND, "the report records the command it ran"
    assert report["drift"] == [] and report["policy_violations"] == []
    assert report["preview"] == CLEAN and report["commit"] == "0" * 40
    assert report["run_url"] == "https://github.com/chefchatz/chefchatz-infra/actions/runs/42"
    assert report["checked_at"].endswith("Z")
    assert "exit-code=0" in output
    # The report is the sign-off's evidence: the workflow and `chefchatz signoff` agree on its shape.
    finding = so.check_drift_report(tmp_path / "work" / "drift-prod.json", "prod", dt.datetime.now(dt.UTC), "-")
    assert finding.status is so.Status.VERIFIED, finding


def test_a_drifted_preview_keeps_its_exit_code_and_steps(tmp_path: Path) -> None:
    report, output, _ = run_preview_script(tmp_path, json.dumps(DRIFTED), "error: no changes were expected", 255)
    assert report["exit_code"] == 255 and report["preview"]["changeSummary"] == DRIFTED["changeSummary"]
    assert "no changes were expected" in report["stderr_tail"]
    assert "exit-code=255" in output
    finding = so.check_drift_report(tmp_path / "work" / "drift-prod.json", "prod", dt.datetime.now(dt.UTC), "-")
    assert finding.status is so.Status.FAILED, finding
    assert "update production (reviewers[0].users[1]: delete)" in finding.evidence, finding
    assert "delete db" in finding.evidence, finding


def test_the_report_says_which_resources_drifted_property_by_property(tmp_path: Path) -> None:
    report, _, _ = run_preview_script(tmp_path, json.dumps(DRIFTED), "", 255)
    expected: list[dict[str, Any]] = [
        {"urn": ENVIRONMENT, "op": "update", "properties": [{"path": "reviewers[0].users[1]", "kind": "delete"}]},
        {"urn": VARIABLE, "op": "update", "properties": [{"path": "value", "kind": None}]},
        {"urn": BUCKET, "op": "delete", "properties": []},
    ]
    assert report["drift"] == sorted(expected, key=lambda entry: str(entry["urn"])), (
        "a refresh that found the cloud as recorded is not drift; every other change is, with its properties"
    )


def test_a_refresh_step_that_found_a_difference_is_drift(tmp_path: Path) -> None:
    found = {"op": "refresh", "urn": BUCKET, "detailedDiff": {"versioning.enabled": {"kind": "update"}}}
    report, _, _ = run_preview_script(tmp_path, json.dumps({"steps": [found]}), "", 255)
    assert report["drift"] == [
        {"urn": BUCKET, "op": "refresh", "properties": [{"path": "versioning.enabled", "kind": "update"}]}
    ]


def test_a_resource_seen_by_the_refresh_and_the_preview_is_one_drifted_resource(tmp_path: Path) -> None:
    refreshed = {"op": "refresh", "urn": BUCKET, "detailedDiff": {"versioning.enabled": {"kind": "update"}}}
    updated = {"op": "update", "urn": BUCKET, "detailedDiff": {"versioning.enabled": {"kind": "update"}}}
    report, _, _ = run_preview_script(tmp_path, json.dumps({"steps": [refreshed, updated]}), "", 255)
    assert report["drift"] == [
        {"urn": BUCKET, "op": "refresh+update", "properties": [{"path": "versioning.enabled", "kind": "update"}]}
    ]


def test_a_preview_that_printed_no_json_still_leaves_a_failing_report(tmp_path: Path) -> None:
    report, _, _ = run_preview_script(tmp_path, "", "error: failed to load policy pack", 255)
    assert report["exit_code"] == 255 and report["preview"] == {} and report["drift"] == []
    assert report["policy_violations"] == [], "no event log was written: no violation, and no failure of the step"
    assert "failed to load policy pack" in report["stderr_tail"]


# --- policy violations: Pulumi's event log, since the digest has none ---------------------------------
#
# Shaped as pulumi/pulumi v3.259.0 (0ac56e87) writes them. The `--json` digest (pkg/display/json.go
# `PreviewDigest`: config, steps, diagnostics, duration, changeSummary, maybeCorrupt) skips policy events
# (pkg/backend/display/json.go:241-243); a mandatory violation only adds the diagnostic "preview failed"
# (deployment_executor.go `reportExecResult`). `--event-log` writes one `apitype.EngineEvent` a line
# (sequence, timestamp and one event field), violations as `policyEvent` (apitype/events.go:87-101), the
# message being the policy's description, its report and a newline (pulumi_policy's `violation_message`,
# pkg/engine/events.go `policyViolationEvent`), colour codes removed as stdout is not a terminal.
STACK_URN = "urn:pulumi:prod::chefchatz::pulumi:pulumi:Stack::chefchatz-prod"
ON_ENVIRONMENT = {
    "resourceUrn": ENVIRONMENT,
    "message": "Gated GitHub environments prevent self-review and cannot be bypassed by admins.\n"
    "environment 'production' lets administrators bypass its protection rules\n",
    "color": "never",
    "policyName": "environment-protection",
    "policyPackName": "chefchatz-policies",
    "policyPackVersion": "0.0.1",
    "policyPackVersionTag": "0.0.1",
    "enforcementLevel": "mandatory",
}
ON_STACK = {  # a stack policy's violation without a URN of its own carries the stack's
    "resourceUrn": STACK_URN,
    "message": "A production deployment needs an approval from every release approver team.\n"
    "only 1 of 2 approval gates found\n",
    "color": "never",
    "policyName": "production-needs-every-approver",
    "policyPackName": "chefchatz-policies",
    "policyPackVersion": "0.0.1",
    "policyPackVersionTag": "0.0.1",
    "enforcementLevel": "advisory",
    "severity": "high",
}
POLICY_FAILED = {**CLEAN, "diagnostics": [{"message": "error: preview failed\n", "severity": "error"}]}


def event_log(*policy_events: dict[str, Any]) -> str:
    """An event log around ``policy_events``: prelude, a resource step, a diagnostic, then the summary
    (the other events abbreviated: the script reads only `policyEvent`)."""
    stack_step = {"op": "same", "urn": STACK_URN, "type": "pulumi:pulumi:Stack", "old": None, "new": None}
    failed = {"prefix": "error: ", "message": "preview failed\n", "color": "never", "severity": "error"}
    summary = {"maybeCorrupt": False, "durationSeconds": 3, "resourceChanges": {"same": 1}, "isPreview": True}
    events: list[dict[str, Any]] = [
        {"preludeEvent": {"config": {}}},
        {"resourcePreEvent": {"metadata": stack_step}},
        *({"policyEvent": event} for event in policy_events),
        {"diagnosticEvent": failed},
        {"summaryEvent": summary},
    ]
    stamped = [{"sequence": n, "timestamp": 1767225600 + n, **event} for n, event in enumerate(events)]
    return "".join(json.dumps(event) + "\n" for event in stamped)


VIOLATION_ON_ENVIRONMENT = {
    "policy": "environment-protection",
    "policy_pack": "chefchatz-policies",
    "policy_pack_version": "0.0.1",
    "enforcement_level": "mandatory",
    "urn": ENVIRONMENT,
    "message": ON_ENVIRONMENT["message"],
}
VIOLATION_ON_STACK = {
    "policy": "production-needs-every-approver",
    "policy_pack": "chefchatz-policies",
    "policy_pack_version": "0.0.1",
    "enforcement_level": "advisory",
    "urn": STACK_URN,
    "message": ON_STACK["message"],
}


def test_the_report_names_each_policy_violation_from_pulumis_event_log(tmp_path: Path) -> None:
    log = event_log(ON_ENVIRONMENT, ON_STACK)
    report, _, args = run_preview_script(tmp_path, json.dumps(POLICY_FAILED), "", 255, log)
    assert args[-2:] == ["--event-log", "preview-events.jsonl"], args
    assert report["policy_violations"] == [VIOLATION_ON_ENVIRONMENT, VIOLATION_ON_STACK]
    assert report["preview"] == POLICY_FAILED and report["drift"] == [], "the digest is kept as Pulumi wrote it"


def test_a_violation_without_a_urn_has_none_in_the_report(tmp_path: Path) -> None:
    unplaced = {key: value for key, value in ON_STACK.items() if key != "resourceUrn"}
    report, _, _ = run_preview_script(tmp_path, json.dumps(POLICY_FAILED), "", 255, event_log(unplaced))
    assert report["policy_violations"] == [{**VIOLATION_ON_STACK, "urn": None}]


def test_an_event_log_cut_short_keeps_the_violations_written_before_the_cut(tmp_path: Path) -> None:
    log = event_log(ON_ENVIRONMENT) + '{"sequence": 9, "policyEvent": {"policyName": "tls-'
    report, _, _ = run_preview_script(tmp_path, json.dumps(POLICY_FAILED), "", 255, log)
    assert report["policy_violations"] == [VIOLATION_ON_ENVIRONMENT]


# --- the issue script, run under Node.js with a recording GitHub client ------------------------------

NODE_HARNESS = """
const fs = require('fs');
const [scriptFile, openFile] = process.argv.slice(2);
const calls = [];
const open = JSON.parse(fs.readFileSync(openFile, 'utf8'));
const record = (name) => async (args) => { calls.push([name, args]); return { data: {} }; };
const github = {
  paginate: async (fn, args) => { calls.push(['paginate', args]); return open; },
  rest: { issues: {
    listForRepo: 'listForRepo',
    create: record('create'), update: record('update'), createComment: record('createComment'),
  } },
};
const context = { repo: { owner: 'chefchatz', repo: 'chefchatz-infra' } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', fs.readFileSync(scriptFile, 'utf8'))(require, github, context)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((e) => { console.error(e); process.exit(1); });
"""


def run_issue_script(tmp_path: Path, report: dict[str, Any], open_issues: list[dict[str, Any]]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the issue script is JavaScript (actions/github-script)")
    (tmp_path / "drift-prod.json").write_text(json.dumps(report))
    (tmp_path / "script.js").write_text(
        step("issue", "Open, update or close the stack's drift issue")["with"]["script"]
    )
    (tmp_path / "open.json").write_text(json.dumps(open_issues))
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    done = subprocess.run(
        [node, "harness.js", "script.js", "open.json"],
        cwd=tmp_path,
        env={**os.environ, "STACK": "prod"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls: list[Any] = json.loads(done.stdout)
    return [c for c in calls if c[0] != "paginate"]


def report(preview: dict[str, Any], code: int, tmp_path: Path, log: str = "") -> dict[str, Any]:
    """The report the preview script writes for ``preview`` (run for real, so both scripts agree)."""
    written, _, _ = run_preview_script(tmp_path / "preview", json.dumps(preview), "", code, log)
    return written


MARKED = {"number": 7, "user": {"type": "Bot"}, "body": "<!-- chefchatz-drift:prod -->\nold"}
OTHER_STACK = {"number": 8, "user": {"type": "Bot"}, "body": "<!-- chefchatz-drift:staging -->\nold"}


def test_a_drifting_stack_opens_one_issue_listing_the_changes(tmp_path: Path) -> None:
    calls = run_issue_script(tmp_path, report(DRIFTED, 255, tmp_path), [OTHER_STACK])
    assert [c[0] for c in calls] == ["create"]
    body = calls[0][1]["body"]
    assert calls[0][1]["title"] == "Drift: stack prod" and body.startswith("<!-- chefchatz-drift:prod -->")
    assert f"`{REFRESH_COMMAND}` exited 255" in body, body
    assert f"- `update` `{ENVIRONMENT}`: `reviewers[0].users[1]` (delete)" in body, body
    assert f"- `update` `{VARIABLE}`: `value`" in body and f"- `delete` `{BUCKET}`\n" in body, body
    assert "3 resources differ" in body, body
    assert "Stack::chefchatz-prod" not in body and "Topic::alerts" not in body  # unchanged resources are not listed


def test_a_stack_still_drifting_updates_its_issue_instead_of_opening_another(tmp_path: Path) -> None:
    calls = run_issue_script(tmp_path, report(DRIFTED, 255, tmp_path), [OTHER_STACK, MARKED])
    assert [(c[0], c[1]["issue_number"]) for c in calls] == [("update", 7)]


def test_a_policy_failure_without_changes_is_reported_as_drift_too(tmp_path: Path) -> None:
    calls = run_issue_script(tmp_path, report(CLEAN, 255, tmp_path), [])
    assert [c[0] for c in calls] == ["create"]
    body = calls[0][1]["body"]
    assert "**No resource changes, so a policy failed or the preview errored**; the log tail is in the report." in body
    assert "policy violations" not in body, "no violation was logged: the preview errored, the report has the log"


MANDATORY_LINE = (
    f"- `mandatory` `chefchatz-policies/environment-protection` on `{ENVIRONMENT}`: Gated GitHub environments "
    "prevent self-review and cannot be bypassed by admins. — environment 'production' lets administrators bypass "
    "its protection rules"
)
ADVISORY_LINE = (
    f"- `advisory` `chefchatz-policies/production-needs-every-approver` on `{STACK_URN}`: A production deployment "
    "needs an approval from every release approver team. — only 1 of 2 approval gates found"
)


def test_a_policy_failure_opens_an_issue_naming_the_violated_policies(tmp_path: Path) -> None:
    # Logged advisory first: the issue lists the mandatory one, which failed the preview, first.
    log = event_log(ON_STACK, ON_ENVIRONMENT)
    calls = run_issue_script(tmp_path, report(POLICY_FAILED, 255, tmp_path, log), [])
    assert [c[0] for c in calls] == ["create"]
    lines = calls[0][1]["body"].split("\n")
    at = lines.index("**No resource changes, but a mandatory policy failed** (below).")
    heading = "**2 policy violations** (1 mandatory, 1 advisory):"
    assert lines[at + 1 : at + 5] == ["", heading, MANDATORY_LINE, ADVISORY_LINE]
    assert "the log tail is in the report" not in calls[0][1]["body"]


def test_drift_and_violations_are_both_listed(tmp_path: Path) -> None:
    calls = run_issue_script(tmp_path, report(DRIFTED, 255, tmp_path, event_log(ON_ENVIRONMENT)), [MARKED])
    assert [(c[0], c[1]["issue_number"]) for c in calls] == [("update", 7)]
    body = calls[0][1]["body"]
    assert "3 resources differ" in body and f"- `delete` `{BUCKET}`\n" in body, body
    assert f"\n\n**1 policy violation** (1 mandatory, 0 advisory):\n{MANDATORY_LINE}\n\n" in body, body


def test_only_the_first_50_violations_are_listed(tmp_path: Path) -> None:
    many = [{**ON_ENVIRONMENT, "resourceUrn": f"{ENVIRONMENT}-{n}"} for n in range(60)]
    calls = run_issue_script(tmp_path, report(POLICY_FAILED, 255, tmp_path, event_log(*many)), [])
    body = calls[0][1]["body"]
    assert "**60 policy violations** (60 mandatory, 0 advisory):" in body
    assert f"`{ENVIRONMENT}-49`" in body and f"`{ENVIRONMENT}-50`" not in body
    assert body.count("- `mandatory` ") == 50 and "- ... and 10 more\n" in body


def test_an_advisory_violation_alone_does_not_keep_a_clean_stack_open(tmp_path: Path) -> None:
    # Advisory violations do not fail the preview (exit 0): the stack is clean and its issue closes.
    calls = run_issue_script(tmp_path, report(CLEAN, 0, tmp_path, event_log(ON_STACK)), [MARKED])
    assert [c[0] for c in calls] == ["createComment", "update"] and calls[1][1]["state"] == "closed"


def test_a_clean_stack_closes_its_issue_and_opens_none(tmp_path: Path) -> None:
    calls = run_issue_script(tmp_path, report(CLEAN, 0, tmp_path), [MARKED])
    assert [c[0] for c in calls] == ["createComment", "update"]
    assert calls[1][1] == {
        "owner": "chefchatz",
        "repo": "chefchatz-infra",
        "issue_number": 7,
        "state": "closed",
        "state_reason": "completed",
    }
    assert run_issue_script(tmp_path / "again", report(CLEAN, 0, tmp_path / "again"), [OTHER_STACK]) == []

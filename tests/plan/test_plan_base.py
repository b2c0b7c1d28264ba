"""`chefchatz plan --base REF`: what a change does, each case on real git history in a temporary
repository (a copy of this project: program, components, ops, stack files), planned by the real
command: the base (merge base of REF and HEAD) in a temporary worktree and the working tree, one run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.plan.test_plan import ROOT, Run, chefchatz, set_config

pytestmark = pytest.mark.xdist_group("plan-base")

SECRET_BASE = "v1:AAAAAAAAAAAAbase-ciphertext-of-the-database-url"
SECRET_HEAD = "v1:BBBBBBBBBBBBhead-ciphertext-of-the-database-url"
REDIS = "v1:CCCCCCCCCCCCunchanged-ciphertext-of-the-redis-url"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def new_repo(tmp: Path, stacks: tuple[str, ...] = ("dev",)) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in stacks)):
        shutil.copy(ROOT / name, repo / name)
    for package in ("components", "ops"):
        shutil.copytree(ROOT / package, repo / package, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "plan@example.com")
    git(repo, "config", "user.name", "plan test")
    commit(repo, "base")
    return repo


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "change")


def plan(repo: Path, stack: str = "dev", base: str = "main", fmt: str = "json") -> Run:
    return chefchatz("plan", "--stack", stack, "--base", base, "--format", fmt, "--project-dir", str(repo))


def changes(run: Run, stack: str = "dev") -> dict[str, Any]:
    assert run.code in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    (entry,) = [s for s in run.json["stacks"] if s["stack"] == stack]
    return entry["changes"]


def by_op(diff: dict[str, Any], op: str) -> list[dict[str, Any]]:
    return [r for r in diff["resources"] if r["op"] == op]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1))


# --- one pull request with several changes, planned once ----------------------------------------------


@pytest.fixture(scope="module")
def several(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run, Run]:
    repo = new_repo(tmp_path_factory.mktemp("several"))
    set_config(repo, "dev", "databaseUrl", "{secure: " + SECRET_BASE + "}")
    set_config(repo, "dev", "redisUrl", "{secure: " + REDIS + "}")
    with (repo / "__main__.py").open("a") as program:
        program.write('\nimport pulumi_aws\npulumi_aws.sns.Topic("to-remove")\n')
    commit(repo, "base with a topic and secrets")
    branch(repo)
    set_config(repo, "dev", "backupDatabaseRetention", "45d")
    set_config(repo, "dev", "databaseUrl", "{secure: " + SECRET_HEAD + "}")
    edit(repo / "__main__.py", 'pulumi_aws.sns.Topic("to-remove")', 'pulumi_aws.ecs.Cluster("added")')
    with (repo / "__main__.py").open("a") as program:
        program.write('pulumi.export("newOutput", "hello")\n')
    commit(repo, "the change")
    return repo, plan(repo), plan(repo, fmt="text")


def test_a_stack_file_value_change_is_one_update_with_the_property_path_old_and_new(several):
    _, run, _ = several
    diff = changes(run)
    lifecycles = [r for r in by_op(diff, "update") if r["name"] == "chefchatz-dev-backups-database-lifecycle"]
    assert lifecycles, [r["name"] for r in by_op(diff, "update")]
    paths = {(p["path"], p["old"], p["new"]) for p in lifecycles[0]["properties"]}
    assert ("rules[0].expiration.days", "30", "45") in paths, paths


def test_a_new_resource_is_a_create_and_a_removed_one_a_delete(several):
    _, run, text = several
    diff = changes(run)
    assert [r["name"] for r in by_op(diff, "create")] == ["added"]
    assert [r["name"] for r in by_op(diff, "delete")] == ["to-remove"]
    assert diff["summary"]["create"] == 1 and diff["summary"]["delete"] == 1
    assert "+  aws:ecs/cluster:Cluster  added" in text.stdout
    assert "-  aws:sns/topic:Topic  to-remove" in text.stdout


def test_a_changed_secret_is_said_never_shown_and_an_unchanged_one_not_listed(several):
    _, run, text = several
    secret_changes = [
        (r["name"], p["path"]) for r in changes(run)["resources"] for p in r["properties"] if p["old"] == "[secret]"
    ]
    assert ("chefchatz-dev-web-env-database-url", "value") in secret_changes, secret_changes
    assert not [name for name, _ in secret_changes if "redis" in name], secret_changes
    assert "~ value: [secret] changed" in text.stdout
    for output in (run.stdout, text.stdout):
        for hidden in (SECRET_BASE, SECRET_HEAD, REDIS, "offline placeholder for secret"):
            assert hidden not in output


def test_outputs_that_changed_are_listed(several):
    _, run, text = several
    assert {"path": "newOutput", "old": None, "new": '"hello"'} in changes(run)["outputs"]
    assert '+ newOutput: "hello"' in text.stdout


def test_the_checkout_is_never_touched_and_the_worktree_is_removed(several):
    repo, _, _ = several
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "change"
    assert len(git(repo, "worktree", "list").splitlines()) == 1


# --- renames ---------------------------------------------------------------------------------------------

RENAME = ('f"{name}-backups",', 'f"{name}-vault",')


def test_a_renamed_component_is_delete_and_create_and_stateful_ones_are_said_to_be_destroyed(tmp_path):
    repo = new_repo(tmp_path)
    branch(repo)
    edit(repo / "components" / "environment.py", *RENAME)
    commit(repo, "rename the backups component")
    run = plan(repo)
    diff = changes(run)
    deleted = {r["name"]: r for r in by_op(diff, "delete")}
    created = {r["name"] for r in by_op(diff, "create")}
    assert "chefchatz-dev-backups-database-bucket" in deleted, sorted(deleted)
    assert "chefchatz-dev-vault-database-bucket" in created, sorted(created)
    bucket = deleted["chefchatz-dev-backups-database-bucket"]
    assert bucket["stateful"] is True
    assert any("would destroy it" in note for note in bucket["notes"]), bucket["notes"]
    assert not by_op(diff, "update")


def test_an_alias_makes_the_rename_a_no_op(tmp_path):
    repo = new_repo(tmp_path)
    branch(repo)
    environment = repo / "components" / "environment.py"
    edit(environment, *RENAME)
    edit(
        environment,
        "                opts=child,\n            )\n\n        self.slo",
        '                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=f"{name}-backups")]),\n'
        "            )\n\n        self.slo",
    )
    commit(repo, "rename the backups component, with an alias")
    run = plan(repo)
    assert changes(run)["resources"] == [], changes(run)["resources"]
    assert plan(repo, fmt="text").stdout.startswith("No change against main")


# --- policies ------------------------------------------------------------------------------------------------


def test_a_policy_newly_violated_and_one_fixed_are_introduced_and_resolved(tmp_path):
    repo = new_repo(tmp_path)
    set_config(repo, "dev", "backupDatabaseRetention", "7d")
    commit(repo, "base violates the retention floor")
    branch(repo)
    set_config(repo, "dev", "backupDatabaseRetention", "30d")
    set_config(repo, "dev", "healthCheckUnhealthyThreshold", "5")
    commit(repo, "fix retention, weaken the health check")
    run = plan(repo)
    assert run.code == 1, run.stderr[-2000:]
    policies = changes(run)["policies"]
    assert {v["policy"] for v in policies["introduced"]} == {"health-check-floors"}
    assert {v["policy"] for v in policies["resolved"]} == {"backup-frequency-and-retention"}
    comment = plan(repo, fmt="markdown").stdout
    assert comment.index("### New policy violations") < comment.index("`health-check-floors`")
    assert "Resolved policy results" in comment


# --- nothing, a new stack, a base that cannot be planned, two checkouts -------------------------------------


def test_no_change_at_all_says_so_in_one_line(tmp_path):
    repo = new_repo(tmp_path)
    branch(repo)
    (repo / "NOTES.md").write_text("a change to nothing the program reads\n")
    commit(repo, "notes")
    run = plan(repo)
    assert run.code == 0
    assert changes(run)["resources"] == [] and changes(run)["outputs"] == []
    for fmt in ("text", "markdown"):
        lines = plan(repo, fmt=fmt).stdout.splitlines()
        # Besides the one line: the comment's hidden marker and footer, the text's timing line.
        shown = [line for line in lines if line and not line.startswith(("<", "Planned "))]
        assert len(shown) == 1 and "No change" in shown[0], shown


def test_a_brand_new_stack_is_all_create(tmp_path):
    repo = new_repo(tmp_path)
    branch(repo)
    shutil.copy(ROOT / "Pulumi.staging.yaml", repo / "Pulumi.staging.yaml")
    commit(repo, "add staging")
    run = plan(repo, stack="staging")
    diff = changes(run, "staging")
    assert diff["base"] == "missing"
    assert diff["summary"]["create"] == len(run.json["stacks"][0]["resources"]) - 1  # all but the stack itself
    assert diff["summary"]["update"] == diff["summary"]["delete"] == 0


def test_a_base_that_fails_to_plan_is_said_and_the_head_is_shown_in_full(tmp_path):
    repo = new_repo(tmp_path)
    set_config(repo, "dev", "backupDatabaseRetention", "banana")
    commit(repo, "a base with invalid configuration")
    branch(repo)
    set_config(repo, "dev", "backupDatabaseRetention", "30d")
    commit(repo, "fixed")
    run = plan(repo)
    diff = changes(run)
    assert run.code == 0
    assert diff["base"] == "failed" and "backupDatabaseRetention" in diff["baseError"], diff["baseError"]
    assert run.json["stacks"][0]["resources"], "the head is planned in full"
    comment = plan(repo, fmt="markdown").stdout
    assert "the base could not be planned" in comment and "The full plan of the working tree" in comment


def test_a_head_that_fails_to_plan_is_said_and_nothing_is_called_deleted(tmp_path):
    repo = new_repo(tmp_path)
    branch(repo)
    set_config(repo, "dev", "backupDatabaseRetention", "banana")
    commit(repo, "a change with invalid configuration")
    run = plan(repo)
    assert run.code == 2, run.stdout[-2000:] + run.stderr[-3000:]
    (entry,) = run.json["stacks"]
    diff = entry["changes"]
    assert "backupDatabaseRetention" in entry["configError"]
    assert diff["base"] == "planned" and diff["head"] == "failed" and diff["headError"] == entry["configError"]
    assert diff["summary"] is None and diff["resources"] is None
    comment = plan(repo, fmt="markdown").stdout
    # Before: the base's policy results all counted as resolved by a change that planned nothing.
    assert "| `dev` | — | 0 | 0 | ❌ invalid configuration |" in comment, comment[:3000]
    assert "### `dev`: configuration error" in comment


def test_an_unknown_base_ref_is_bad_input_named(tmp_path):
    repo = new_repo(tmp_path)
    run = plan(repo, base="no-such-branch")
    assert run.code == 2
    assert "no-such-branch" in run.stderr and "unknown revision" in run.stderr


def test_two_checkouts_of_one_commit_in_different_folders_give_no_change(tmp_path):
    # prod: its drain function's archive is built from files of the checkout (ops/slo).
    repo = new_repo(tmp_path, stacks=("prod",))
    run = plan(repo, stack="prod", base="HEAD")
    diff = changes(run, "prod")
    assert diff["resources"] == [] and diff["outputs"] == [], diff["resources"][:3]
    functions = [r for r in run.json["stacks"][0]["resources"] if r["type"] == "aws:lambda/function:Function"]
    assert functions and str(tmp_path) not in str(functions[0]["inputs"]["code"])

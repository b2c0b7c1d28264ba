"""`ops.plan.diff` by tables: two recorded plans in, the changes out (no engine, no git)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.deserialize import SPECIAL_ARCHIVE_SIG, SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from ops.plan.diff import diff_stack
from ops.plan.model import StackPlan, Violation
from ops.plan.offline import with_content_hashes

PREFIX = "urn:pulumi:prod::chefchatz::"


def res(type_: str, name: str, props: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    return {
        "urn": f"{PREFIX}{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": None,
        "properties": props or {},
        "options": {"aliases": [], "protect": False, "retainOnDelete": False, "replaceOnChanges": [], **options},
    }


def plan(*resources: dict[str, Any], violations: list[Violation] | None = None) -> StackPlan:
    return StackPlan("prod", resources=list(resources), violations=violations or [])


def secret(value: str) -> dict[str, Any]:
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


BUCKET, TOPIC = "aws:s3/bucket:Bucket", "aws:sns/topic:Topic"
KEY = "[offline placeholder for secret chefchatz:databaseUrl]"


@pytest.mark.parametrize(
    ("case", "old", "new", "changed_keys", "expected"),
    [
        ("value", {"days": 30.0}, {"days": 45.0}, (), ["~ days: 30 → 45"]),
        (
            "nested",
            {"rules": [{"expiration": {"days": 30}}]},
            {"rules": [{"expiration": {"days": 45}}]},
            (),
            ["~ rules[0].expiration.days: 30 → 45"],
        ),
        ("added key", {}, {"tags": {"a": "b"}}, (), ['+ tags: {"a": "b"}']),
        ("removed item", {"x": [1, 2]}, {"x": [1]}, (), ["- x[1]: 2"]),
        ("secret unchanged", {"v": secret(KEY)}, {"v": secret(KEY)}, (), []),
        (
            "secret ciphertext changed",
            {"v": secret(KEY)},
            {"v": secret(KEY)},
            ("chefchatz:databaseUrl",),
            ["~ v: [secret] changed"],
        ),
        ("other key changed", {"v": secret(KEY)}, {"v": secret(KEY)}, ("chefchatz:redisUrl",), []),
        (
            "known to unknown",
            {"arn": "a"},
            {"arn": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"},
            (),
            ['~ arn: "a" → [unknown]'],
        ),
        (
            "unknown both sides",
            {"arn": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"},
            {"arn": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"},
            (),
            [],
        ),
        (
            "archive path moved",
            {"code": {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, "hash": "h1", "path": "/a"}},
            {"code": {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, "hash": "h1", "path": "/b"}},
            (),
            [],
        ),
        (
            "archive content changed",
            {"code": {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, "hash": "h1"}},
            {"code": {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, "hash": "h2"}},
            (),
            ["~ code: archive(h1…) → archive(h2…)"],
        ),
    ],
)
def test_property_changes_are_paths_with_old_and_new_and_secrets_are_never_shown(
    case, old, new, changed_keys, expected
):
    diff = diff_stack(plan(res(TOPIC, "t", old)), plan(res(TOPIC, "t", new)), frozenset(changed_keys))
    lines = [p.line() for c in diff.changes for p in c.properties]
    assert lines == expected, case
    assert "offline placeholder" not in str(diff.as_json()), case


def test_a_long_value_is_shortened():
    diff = diff_stack(plan(res(TOPIC, "t", {"v": "x" * 500})), plan(res(TOPIC, "t", {"v": "x" * 499 + "y"})))
    (line,) = [p.line() for c in diff.changes for p in c.properties]
    assert len(line) < 200, line


@pytest.mark.parametrize(
    ("case", "options", "op", "note"),
    [
        ("stateful", {}, "delete", "would destroy it"),
        ("protected", {"protect": True}, "delete", "BLOCKED"),
        ("retained", {"retainOnDelete": True}, "delete", "the cloud object stays"),
    ],
)
def test_a_deleted_stateful_resource_is_said_to_be_destroyed_and_a_protected_one_blocked(case, options, op, note):
    diff = diff_stack(plan(res(BUCKET, "b", **options)), plan())
    (change,) = diff.changes
    assert change.op == op and any(note in n for n in change.notes()), (case, change.notes())
    assert change.blocked == bool(options.get("protect")), case


def test_a_replacement_of_a_protected_resource_is_blocked():
    old = res(BUCKET, "b", {"bucket": "x"}, protect=True, replaceOnChanges=["bucket"])
    new = res(BUCKET, "b", {"bucket": "y"}, protect=True, replaceOnChanges=["bucket"])
    (change,) = diff_stack(plan(old), plan(new)).changes
    assert change.op == "replace" and change.blocked


def test_protection_added_or_removed_is_a_change_as_pulumi_preview_shows_it():
    (added,) = diff_stack(plan(res(BUCKET, "b")), plan(res(BUCKET, "b", protect=True))).changes
    assert added.op == "update" and [(p.path, p.old, p.new) for p in added.properties] == [
        ("[protect]", "false", "true")
    ]
    (removed,) = diff_stack(plan(res(BUCKET, "b", protect=True)), plan(res(BUCKET, "b"))).changes
    assert [p.path for p in removed.properties] == ["[protect]"]


def test_a_replacement_that_also_removes_protection_is_not_blocked_but_destroys():
    # The engine lets one update drop `protect` and replace: the old bucket and its data go.
    old = res(BUCKET, "b", {"bucket": "x"}, protect=True, replaceOnChanges=["bucket"])
    new = res(BUCKET, "b", {"bucket": "y"}, replaceOnChanges=["bucket"])
    (change,) = diff_stack(plan(old), plan(new)).changes
    assert change.op == "replace" and not change.blocked
    assert any("would destroy it" in n for n in change.notes()), change.notes()


def test_a_blocked_delete_says_blocked_only():
    (change,) = diff_stack(plan(res(BUCKET, "b", protect=True)), plan()).changes
    assert [n for n in change.notes() if "BLOCKED" in n or "destroy" in n] == [
        "BLOCKED: the resource is protected; `pulumi up` refuses to delete it"
    ]


def test_a_change_deep_in_a_long_line_is_visible_on_both_sides():
    line = "        run: pip install chefchatz-infra @ git+https://github.com/chefchatz/chefchatz-infra@"
    old = res("github:index/repositoryFile:RepositoryFile", "f", {"content": f"a\n{line}{'0' * 40}\nb"})
    new = res("github:index/repositoryFile:RepositoryFile", "f", {"content": f"a\n{line}{'1' * 40}\nb"})
    (change,) = diff_stack(plan(old), plan(new)).changes
    (prop,) = change.properties
    assert prop.old is not None and prop.new is not None, prop
    assert prop.old != prop.new and "000" in prop.old and "111" in prop.new, prop


def test_a_resource_takes_over_one_old_resource_through_its_first_alias_and_the_other_is_deleted():
    first, second = res(BUCKET, "a"), res(BUCKET, "b")
    new = res(BUCKET, "c", aliases=[first["urn"], second["urn"]])
    ops = sorted((c.op, c.name) for c in diff_stack(plan(first, second), plan(new)).changes)
    assert ops == [("delete", "b")], ops


def test_a_rename_without_alias_is_delete_and_create_and_names_the_likely_new_name():
    diff = diff_stack(plan(res(BUCKET, "old")), plan(res(BUCKET, "new")))
    assert sorted((c.op, c.name) for c in diff.changes) == [("create", "new"), ("delete", "old")]
    (deleted,) = [c for c in diff.changes if c.op == "delete"]
    assert deleted.rename_to == "new"


def test_an_alias_makes_a_rename_no_change_and_children_inherit_it():
    parent_old, parent_new = res("x:y:C", "comp"), res("x:y:C", "renamed", aliases=[f"{PREFIX}x:y:C::comp"])
    child_old = {**res(BUCKET, "comp-bucket"), "urn": f"{PREFIX}x:y:C$aws:s3/bucket:Bucket::comp-bucket"}
    child_old["parent"] = parent_old["urn"]
    child_new = {**res(BUCKET, "renamed-bucket"), "urn": f"{PREFIX}x:y:C$aws:s3/bucket:Bucket::renamed-bucket"}
    child_new["parent"] = parent_new["urn"]
    assert diff_stack(plan(parent_old, child_old), plan(parent_new, child_new)).changes == []


def test_policy_results_are_introduced_resolved_or_unchanged():
    a, b, c = (Violation(p, "mandatory", f"{PREFIX}{TOPIC}::t", "m") for p in ("a", "b", "c"))
    diff = diff_stack(plan(violations=[a, b]), plan(violations=[b, c]))
    assert [v.policy for v in diff.introduced] == ["c"]
    assert [v.policy for v in diff.resolved] == ["a"]
    assert [v.policy for v in diff.unchanged] == ["b"]


def test_a_missing_base_stack_is_all_create_and_a_failed_one_says_why():
    created = diff_stack(None, plan(res(TOPIC, "t")))
    assert created.base_status == "missing" and [c.op for c in created.changes] == ["create"]
    failed = diff_stack(StackPlan("prod", config_error="bad key"), plan(res(TOPIC, "t")))
    assert failed.base_status == "failed" and failed.base_error == "bad key" and not failed.changes


def test_a_head_that_fails_to_plan_changes_nothing_known_not_every_base_resource_deleted():
    base = plan(res(TOPIC, "t"), res(TOPIC, "u"))
    diff = diff_stack(base, StackPlan("prod", config_error="prod: backupDatabaseRetention: 7 < 30"))
    assert diff.head_error == "prod: backupDatabaseRetention: 7 < 30" and not diff.changes and not diff.is_empty
    document = diff.as_json()
    assert document["head"] == "failed" and document["headError"].endswith("7 < 30")
    assert document["summary"] is None and document["resources"] is None and document["base"] == "planned"
    assert diff_stack(None, StackPlan("prod", config_error="x")).as_json()["base"] == "missing"
    assert diff_stack(base, base).as_json()["head"] == "planned"


def test_assets_record_the_hash_of_their_content_not_where_they_are(tmp_path, monkeypatch):
    hashes = []
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f.py").write_text("print(1)\n")
        monkeypatch.chdir(tmp_path / folder)
        asset = {SPECIAL_SIG_KEY: "c44067f5952c0a294b673a41bacd8c17", "path": str(tmp_path / folder / "f.py")}
        recorded = with_content_hashes({"code": {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, "assets": {"f.py": asset}}})
        hashes.append(recorded)
    assert hashes[0] == hashes[1]
    assert hashes[0]["code"]["assets"]["f.py"]["path"] == "f.py"

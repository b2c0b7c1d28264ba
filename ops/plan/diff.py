"""What a change does to a stack: the plan at the base against the plan of the working tree, by URN.

Pure functions over two recorded plans (no engine, no git): resources created, deleted, updated or
replaced, each update with its property paths (`rules[0].expiration.days: 30 → 45`); renames matched
through the new resource's aliases; the policy results introduced, resolved and unchanged; the
stack outputs that changed.

What an offline plan can and cannot know:
- secrets are never shown: a secret input is the same placeholder on both sides, so it is reported
  ("[secret] changed") only when the stack-file ciphertext of a key it carries changed;
- computed values are unknown on both sides of a first preview and so never differ; a known value
  that becomes unknown is shown as `[unknown]`;
- assets and archives compare by the hash of their content (`ops.plan.offline` records it), never by
  their path on disk;
- a replacement is known only where the resource declares it (`replace_on_changes`): the providers'
  own replace rules need their schemas and a real preview.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy.deserialize import SPECIAL_ARCHIVE_SIG, SPECIAL_ASSET_SIG, SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from ops.plan.model import LOOKUP_ID_BASE, UNKNOWN_SENTINELS, StackPlan, Violation
from policies.protection import STATEFUL_TYPES

# A value shown in a change is cut to this many characters (a workflow file is thousands).
SHOWN_CHARS = 80
_PLACEHOLDER = re.compile(r"\[offline placeholder for secret ([^\]]+)\]")
_STACK_TYPE = "pulumi:pulumi:Stack"


class _Unknown:
    def __repr__(self) -> str:
        return "[unknown]"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Secret:
    """A secret value: only whether it changed is ever said. `keys` are the config keys it carries;
    `side` is set (base, head) when one of them has a new ciphertext, so the two sides differ."""

    fingerprint: str
    keys: frozenset[str]
    side: str = ""


@dataclass(frozen=True)
class Blob:
    """An asset or archive, known by the hash of its content (or its URI when remote)."""

    kind: str
    identity: str


def normalize(
    value: Any, lookups: Mapping[str, str] | None = None, changed_keys: frozenset[str] = frozenset(), side: str = ""
) -> Any:
    """A recorded value as it is compared: markers for secrets, unknowns, assets; whole numbers as ints.

    `changed_keys` are config keys whose ciphertext differs between the base and the head: a secret
    carrying one is marked with `side`, so that it differs from its counterpart.
    """
    if isinstance(value, dict):
        sig = value.get(SPECIAL_SIG_KEY)
        if sig == SPECIAL_SECRET_SIG:
            inner = json.dumps(normalize(value.get("value"), lookups), sort_keys=True, default=repr)
            keys = frozenset(_PLACEHOLDER.findall(inner))
            return Secret(inner, keys, side if keys & changed_keys else "")
        if sig in (SPECIAL_ASSET_SIG, SPECIAL_ARCHIVE_SIG):
            kind = "asset" if sig == SPECIAL_ASSET_SIG else "archive"
            identity = value.get("hash") or value.get("uri") or value.get("path") or ""
            return Blob(kind, str(identity))
        return {k: normalize(v, lookups, changed_keys, side) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, lookups, changed_keys, side) for v in value]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return UNKNOWN
    if isinstance(value, str) and lookups and value.isdigit() and value in lookups:
        # A stand-in id passed on as text (a team id in a team's repository access).
        return f"[looked up at deploy time: {lookups[value]}]"
    if isinstance(value, float) and value.is_integer():
        number = int(value)
        if lookups and number > LOOKUP_ID_BASE and str(number) in lookups:
            # Stand-in ids are numbered in call order: compare what was looked up, not the number.
            return f"[looked up at deploy time: {lookups[str(number)]}]"
        return number
    return value


def shown(value: Any) -> str:
    """A value as a change line shows it: secrets and unknowns marked, long values cut."""
    if isinstance(value, Secret):
        return "[secret]"
    if value is UNKNOWN:
        return "[unknown]"
    if isinstance(value, Blob):
        return f"{value.kind}({value.identity[:12]}…)" if value.identity else f"{value.kind}(?)"
    text = json.dumps(value, default=shown, ensure_ascii=False)
    if len(text) > SHOWN_CHARS:
        return f"{text[: SHOWN_CHARS - 20]}… ({len(text):,} chars)"
    return text


@dataclass(frozen=True)
class PropertyChange:
    """One changed value: `old`/`new` are display text, None when the path is absent on that side."""

    path: str
    old: str | None
    new: str | None

    @property
    def symbol(self) -> str:
        return "+" if self.old is None else "-" if self.new is None else "~"

    def line(self) -> str:
        if self.old is None:
            return f"+ {self.path}: {self.new}"
        if self.new is None:
            return f"- {self.path}: {self.old}"
        if self.old == self.new == "[secret]":
            return f"~ {self.path}: [secret] changed"
        return f"~ {self.path}: {self.old} → {self.new}"

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


def _key_path(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def diff_values(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """Property paths that differ between two normalized values (see `normalize` for secrets)."""
    if old == new:
        return []
    if isinstance(old, Secret) and isinstance(new, Secret):
        return [PropertyChange(path, "[secret]", "[secret]")]
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[PropertyChange] = []
        for key in sorted(old.keys() | new.keys()):
            where = _key_path(path, key)
            if key not in new:
                changes.append(PropertyChange(where, shown(old[key]), None))
            elif key not in old:
                changes.append(PropertyChange(where, None, shown(new[key])))
            else:
                changes.extend(diff_values(old[key], new[key], where))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            where = f"{path}[{index}]"
            if index >= len(new):
                changes.append(PropertyChange(where, shown(old[index]), None))
            elif index >= len(old):
                changes.append(PropertyChange(where, None, shown(new[index])))
            else:
                changes.extend(diff_values(old[index], new[index], where))
        return changes
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > SHOWN_CHARS:
        return [_text_change(path or "(value)", old, new)]
    return [PropertyChange(path or "(value)", shown(old), shown(new))]


def _text_change(path: str, old: str, new: str) -> PropertyChange:
    """A long text (a workflow file) by its first change: the first differing line of a multi-line
    text, with how many lines went and came, or the changed stretch of one long line."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if len(old_lines) > 1 or len(new_lines) > 1:
        blocks = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
        changed = [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in blocks if tag != "equal"]
        removed = sum(i2 - i1 for i1, i2, _, _ in changed)
        added = sum(j2 - j1 for _, _, j1, j2 in changed)
        i1, i2, j1, j2 = changed[0]
        where = f"{path} (line {j1 + 1}; -{removed} +{added} lines)"
        if i1 < i2 and j1 < j2:
            # Both sides have the line: show where in it they differ (a changed commit hash deep in a
            # long line would otherwise be cut off on both sides).
            before, after = _changed_stretch(old_lines[i1].strip(), new_lines[j1].strip())
        else:
            before = shown(old_lines[i1].strip()) if i1 < i2 else "(no line)"
            after = shown(new_lines[j1].strip()) if j1 < j2 else "(no line)"
        return PropertyChange(where, before, after)
    return PropertyChange(path, *_changed_stretch(old, new))


def _changed_stretch(old: str, new: str) -> tuple[str, str]:
    """The stretch of two texts where they differ, with a little context, each within SHOWN_CHARS."""
    start = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
    cut = max(0, start - 10)
    return (
        shown(("…" if cut else "") + old[cut : cut + SHOWN_CHARS]),
        shown(("…" if cut else "") + new[cut : cut + SHOWN_CHARS]),
    )


# Options whose change `pulumi preview --diff` shows (display.go: protect; the others change what an
# update or a delete does).
DIFFED_OPTIONS = ("protect", "retainOnDelete", "deleteBeforeReplace")


@dataclass
class ResourceChange:
    op: str  # create, delete, update, replace
    urn: str
    type: str
    name: str
    properties: list[PropertyChange] = field(default_factory=list)
    stateful: bool = False
    # The base declared `protect`: `pulumi up` refuses to delete or replace it.
    protected: bool = False
    # The base declared `retain_on_delete`: a delete leaves the cloud object.
    retained: bool = False
    # A resource of the same type appearing in the same change: the likely new name of a deleted one.
    rename_to: str | None = None

    @property
    def blocked(self) -> bool:
        return self.protected and self.op in ("delete", "replace")

    @property
    def symbol(self) -> str:
        return {"create": "+", "delete": "-", "update": "~", "replace": "+-"}[self.op]

    def notes(self) -> list[str]:
        notes: list[str] = []
        if self.blocked:
            verb = "delete" if self.op == "delete" else "replace"
            notes.append(f"BLOCKED: the resource is protected; `pulumi up` refuses to {verb} it")
        elif self.op in ("delete", "replace") and self.stateful and not self.retained:
            notes.append("stateful: `pulumi up` would destroy it (and its data)")
        elif self.op in ("delete", "replace") and self.retained:
            notes.append("retained on delete: the cloud object stays, unmanaged")
        if self.rename_to:
            notes.append(f"renamed to `{self.rename_to}`? add `aliases=[...]` to keep the resource")
        return notes

    def as_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "properties": [p.as_json() for p in self.properties],
            "stateful": self.stateful,
            "protected": self.protected,
            "blocked": self.blocked,
            "renamedTo": self.rename_to,
            "notes": self.notes(),
        }


@dataclass
class StackDiff:
    stack: str
    # "planned": changes below; "missing": the base has no such stack (all create); "failed": the
    # base could not be planned (`base_error` says why) and only the head is shown.
    base_status: str
    base_error: str | None = None
    changes: list[ResourceChange] = field(default_factory=list)
    introduced: list[Violation] = field(default_factory=list)
    resolved: list[Violation] = field(default_factory=list)
    unchanged: list[Violation] = field(default_factory=list)
    outputs: list[PropertyChange] = field(default_factory=list)
    # Why the head (the change itself) could not be planned; its changes are then unknown, never
    # "every base resource deleted".
    head_error: str | None = None

    def count(self, op: str) -> int:
        return sum(1 for c in self.changes if c.op == op)

    @property
    def is_empty(self) -> bool:
        return (
            self.base_status == "planned"
            and self.head_error is None
            and not (self.changes or self.introduced or self.resolved or self.outputs)
        )

    @property
    def blocked(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.blocked]

    def as_json(self) -> dict[str, Any]:
        if self.head_error is not None:
            # Nothing is known of what the change does: null, not zero changes or all deletes.
            return {
                "base": self.base_status,
                "baseError": self.base_error,
                "head": "failed",
                "headError": self.head_error,
                "summary": None,
                "resources": None,
                "policies": None,
                "outputs": None,
            }
        return {
            "base": self.base_status,
            "baseError": self.base_error,
            "head": "planned",
            "headError": None,
            "summary": {op: self.count(op) for op in ("create", "update", "replace", "delete")},
            "resources": [c.as_json() for c in self.changes],
            "policies": {
                "introduced": [v.as_json() for v in self.introduced],
                "resolved": [v.as_json() for v in self.resolved],
                "unchanged": [v.as_json() for v in self.unchanged],
            },
            "outputs": [p.as_json() for p in self.outputs],
        }


def _replaces(resource: Mapping[str, Any], changes: Iterable[PropertyChange]) -> bool:
    triggers = resource.get("options", {}).get("replaceOnChanges", [])
    if "*" in triggers:
        return True
    return any(c.path == t or c.path.startswith((f"{t}.", f"{t}[")) for c in changes for t in triggers)


def _resources(plan: StackPlan) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in plan.resources if r["type"] != _STACK_TYPE}


def alias_urns(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Every URN each resource answers to: its own aliases and, as the engine derives them, those
    inherited from its parent's (a child named after its parent takes the alias's name as prefix)."""
    found: dict[str, set[str]] = {}

    def of(urn: str) -> set[str]:
        if urn not in found:
            resource = resources[urn]
            aliases = set(resource.get("options", {}).get("aliases", []))
            parent = resource.get("parent")
            if isinstance(parent, str) and parent in resources:
                parent_name, name = resources[parent]["name"], resource["name"]
                for parent_alias in of(parent):
                    prefix, alias_name = parent_alias.rsplit("::", 1)
                    child = alias_name + name[len(parent_name) :] if name.startswith(parent_name) else name
                    aliases.add(f"{prefix}${resource['type']}::{child}")
            found[urn] = aliases
        return found[urn]

    for urn in resources:
        of(urn)
    return found


def _violation_keys(violations: Iterable[Violation], renamed: Mapping[str, str]) -> dict[tuple[str, str], Violation]:
    return {(v.policy, renamed.get(v.urn, v.urn)): v for v in violations}


def diff_stack(base: StackPlan | None, head: StackPlan, changed_keys: frozenset[str] = frozenset()) -> StackDiff:
    """`head` against `base` (None: the base has no such stack). `changed_keys` are the config keys
    whose stack-file ciphertext differs between the two."""
    if head.config_error:
        status = "missing" if base is None else "failed" if base.config_error else "planned"
        return StackDiff(head.stack, status, base.config_error if base else None, head_error=head.config_error)
    if base is None:
        status, base_plan, error = "missing", StackPlan(head.stack), None
    elif base.config_error:
        return StackDiff(head.stack, "failed", base.config_error)
    else:
        status, base_plan, error = "planned", base, None
    old, new = _resources(base_plan), _resources(head)
    # Base URN -> head URN, for a head resource whose alias names a base resource that is gone.
    renamed: dict[str, str] = {}
    for urn, aliases in alias_urns(new).items():
        # The engine takes the first alias that names an old resource; any other is deleted.
        for alias in sorted(aliases):
            if alias in old and alias not in new and urn not in old and alias not in renamed:
                renamed[alias] = urn
                break
    changes: list[ResourceChange] = []
    created = [urn for urn in new if urn not in old and urn not in renamed.values()]
    for urn in created:
        r = new[urn]
        changes.append(ResourceChange("create", urn, r["type"], r["name"], stateful=r["type"] in STATEFUL_TYPES))
    for urn, r in old.items():
        options = r.get("options", {})
        protected, retained = bool(options.get("protect")), bool(options.get("retainOnDelete"))
        stateful = r["type"] in STATEFUL_TYPES
        target = urn if urn in new else renamed.get(urn)
        if target is None:
            candidates = [c for c in created if new[c]["type"] == r["type"]]
            rename_to = new[candidates[0]]["name"] if len(candidates) == 1 else None
            changes.append(
                ResourceChange("delete", urn, r["type"], r["name"], [], stateful, protected, retained, rename_to)
            )
            continue
        properties = diff_values(
            normalize(r["properties"], base_plan.lookups, changed_keys, "base"),
            normalize(new[target]["properties"], head.lookups, changed_keys, "head"),
        )
        # Resource options as `pulumi preview --diff` shows them (`[protect]: false → true`).
        new_options = new[target].get("options", {})
        properties += [
            PropertyChange(f"[{name}]", shown(options.get(name)), shown(new_options.get(name)))
            for name in DIFFED_OPTIONS
            if bool(options.get(name)) != bool(new_options.get(name))
        ]
        if properties:
            op = "replace" if _replaces(new[target], properties) else "update"
            t = new[target]
            # The engine blocks a replacement only while the new resource is protected too: a change that
            # removes `protect` and forces a replacement in one update goes through.
            still_protected = protected and bool(new_options.get("protect"))
            changes.append(
                ResourceChange(op, target, t["type"], t["name"], properties, stateful, still_protected, retained)
            )
    before = _violation_keys(base_plan.violations, renamed)
    after = _violation_keys(head.violations, {})
    return StackDiff(
        head.stack,
        status,
        error,
        changes,
        introduced=[v for k, v in after.items() if k not in before],
        resolved=[v for k, v in before.items() if k not in after],
        unchanged=[v for k, v in after.items() if k in before],
        outputs=diff_values(
            normalize(base_plan.outputs, base_plan.lookups, changed_keys, "base"),
            normalize(head.outputs, head.lookups, changed_keys, "head"),
        ),
    )


def changed_secret_keys(base: Mapping[str, str], head: Mapping[str, str]) -> frozenset[str]:
    """Config keys whose ciphertext (`{secure: ...}` in the stack file) differs between two stack files."""
    return frozenset(key for key in base.keys() | head.keys() if base.get(key) != head.get(key))

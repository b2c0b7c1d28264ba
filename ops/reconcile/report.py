"""The reconciliation report: what differs per table, what was applied, what needs a person.

Pure data and decisions (exit code, text rendering); no database access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.reconcile.compare import Key

SAMPLE_KEYS = 10  # keys listed per table and class: enough to look at, small enough to read
CONFLICT_VERSIONS = 1000  # conflicts per table shown with both versions; the counts stay exact


@dataclass
class Conflict:
    key: dict[str, str]
    source: Any  # the row in --from, as JSON
    target: Any  # the row in --to, as JSON


@dataclass
class TableReport:
    table: str
    key: tuple[str, ...]
    lost: int = 0
    only_in_to: int = 0
    conflicts: int = 0
    applied: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, list[dict[str, str]]] = field(
        default_factory=lambda: {"lost": [], "only_in_to": [], "conflicts": []}
    )
    conflict_versions: list[Conflict] = field(default_factory=list)
    sequences_advanced: list[str] = field(default_factory=list)
    passes: int = 0  # scans of the table per side
    buckets_compared: int = 0
    buckets_differing: int = 0
    buckets_pinpointed: int = 0  # of those, the ones whose differing rows were fetched from one piece
    rows_fetched: int = 0
    seconds: float = 0.0

    def key_dict(self, key: Key) -> dict[str, str]:
        return dict(zip(self.key, key, strict=True))

    def sample(self, kind: str, keys: list[Key]) -> None:
        room = SAMPLE_KEYS - len(self.samples[kind])
        self.samples[kind] += [self.key_dict(k) for k in keys[: max(room, 0)]]

    def missing(self, applied: bool) -> int:
        """Lost rows still absent from --to after this run."""
        return self.lost - self.applied if applied else self.lost

    def to_json(self, applied: bool) -> dict[str, Any]:
        return {
            "table": self.table,
            "primary_key": list(self.key),
            "lost": self.lost,
            "only_in_to": self.only_in_to,
            "conflicts": self.conflicts,
            "applied": self.applied,
            "still_missing": self.missing(applied),
            "rejected": self.rejected,
            "samples": self.samples,
            "conflict_versions": [{"key": c.key, "from": c.source, "to": c.target} for c in self.conflict_versions],
            "sequences_advanced": self.sequences_advanced,
            "passes": self.passes,
            "buckets_compared": self.buckets_compared,
            "buckets_differing": self.buckets_differing,
            "buckets_pinpointed": self.buckets_pinpointed,
            "rows_fetched": self.rows_fetched,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Report:
    source: str  # user@host:port/dbname, never a password
    target: str
    schema: str
    applied: bool
    tables: list[TableReport] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing left to reconcile: no conflicts, and no lost row still missing from --to."""
        return all(t.conflicts == 0 and t.missing(self.applied) == 0 for t in self.tables)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "mode": "apply" if self.applied else "report",
            "from": self.source,
            "to": self.target,
            "schema": self.schema,
            "totals": {
                "lost": sum(t.lost for t in self.tables),
                "only_in_to": sum(t.only_in_to for t in self.tables),
                "conflicts": sum(t.conflicts for t in self.tables),
                "applied": sum(t.applied for t in self.tables),
                "still_missing": sum(t.missing(self.applied) for t in self.tables),
            },
            "tables": [t.to_json(self.applied) for t in self.tables],
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }

    def to_text(self) -> str:
        lines = [
            f"reconcile {self.schema}: {self.source} -> {self.target} "
            f"({'apply' if self.applied else 'report only'}, {self.seconds:.1f}s)",
            f"  {'table':<32} {'lost':>8} {'only-in-to':>10} {'conflicts':>9} {'applied':>8} {'missing':>8}",
        ]
        for t in self.tables:
            lines.append(
                f"  {t.table:<32} {t.lost:>8} {t.only_in_to:>10} {t.conflicts:>9} {t.applied:>8} "
                f"{t.missing(self.applied):>8}"
            )
            for kind in ("lost", "conflicts"):
                if t.samples[kind]:
                    lines.append(f"    {kind}: " + "; ".join(_key_text(k) for k in t.samples[kind]))
            for rejected in t.rejected[:SAMPLE_KEYS]:
                lines.append(f"    refused {_key_text(rejected['key'])}: {rejected['error']}")
        for skipped in self.skipped:
            lines.append(f"  skipped {skipped['table']}: {skipped['reason']}")
        if self.ok:
            lines.append("OK: nothing left to reconcile")
        else:
            conflicts = sum(t.conflicts for t in self.tables)
            missing = sum(t.missing(self.applied) for t in self.tables)
            hint = "" if self.applied else " (run with --apply to insert them)"
            lines.append(
                f"FAILED: {conflicts} conflict(s) need a person (both versions in the report), "
                f"{missing} lost row(s) still missing{hint if missing else ''}"
            )
        return "\n".join(lines)


def _key_text(key: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())

"""Speed of the offline plan, the job every pull request waits for.

Prints, measured in this one run (medians of ``--runs``, each a fresh process):

1. ``chefchatz plan --stack all --format json`` on this project, policies included;
2. importing the SDK modules that plan uses and nothing else (``ops.plan.offline.preload``: pulumi, the
   provider packages and exactly the service modules the program names, e.g. ``pulumi_aws.ec2``);
3. their ratio (goal <= 3x, and the plan under 5 s);
4. the cost per resource of a synthetic project grown to 1,000 and 5,000 resources, planned with the
   same command and the whole policy pack (goal <= 1 ms per resource, and linear: the per-resource
   cost at 5,000 about the one at 1,000). The synthetic program registers the program's own mix of
   resource types (S3 buckets, CloudWatch alarms, GitHub environment variables, Vercel variables),
   so every resource also passes through the rules that read that type;
5. for the same synthetic programs, the floor under that cost: Pulumi's Python SDK alone registering
   the resources under its own ``MockMonitor`` (no recording, no policy gate, garbage collection off),
   and the plan's cost per resource as a multiple of it;
6. ``chefchatz plan --stack all --base HEAD~1`` (the base checked out and planned too, in the same run)
   against planning the head alone, the two measured alternately: their ratio (goal <= 1.6x).

    .venv/bin/python benchmarks/plan.py --runs 5
    .venv/bin/python benchmarks/plan.py --runs 5 --only-base     # item 6 alone
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHEFCHATZ = [sys.executable, "-m", "ops"]

SYNTHETIC_PROGRAM = textwrap.dedent(
    """
    import pulumi
    import pulumi_aws as aws
    import pulumi_github as github
    import pulumiverse_vercel as vercel

    count = pulumi.Config("synthetic").require_int("count")
    for i in range(count):
        kind = i % 4
        if kind == 0:
            aws.s3.Bucket(f"bucket-{i}", bucket=f"synthetic-{i}", tags={"stack": "synthetic", "index": str(i)})
        elif kind == 1:
            aws.cloudwatch.MetricAlarm(
                f"alarm-{i}", namespace="Synthetic", metric_name="Errors", statistic="Sum", period=60,
                evaluation_periods=1, threshold=1.0, comparison_operator="GreaterThanThreshold",
            )
        elif kind == 2:
            github.ActionsEnvironmentVariable(
                f"variable-{i}", repository="app", environment="dev", variable_name=f"V_{i}", value=str(i)
            )
        else:
            vercel.ProjectEnvironmentVariable(
                f"env-{i}", project_id="prj_synthetic", key=f"KEY_{i}", value=str(i),
                targets=["preview"], sensitive=False,
            )
    pulumi.export("count", count)
    """
)


# Pulumi's SDK alone: the synthetic program under Pulumi's own mocks, nothing recorded, no gate.
SDK_ALONE = textwrap.dedent(
    """
    import gc, runpy, sys
    from pathlib import Path
    import pulumi
    from pulumi.runtime.stack import wait_for_rpcs
    from pulumi.runtime.sync_await import _sync_await
    from ops.plan.offline import preload

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return "", dict(args.inputs)

        def call(self, args):
            return {}

    project = Path(sys.argv[1])
    preload(project)
    pulumi.runtime.set_all_config({"synthetic:count": sys.argv[2]}, [])
    pulumi.runtime.set_mocks(Mocks(), project="synthetic", stack="synthetic", preview=True)
    gc.freeze()
    gc.disable()
    runpy.run_path(str(project / "__main__.py"), run_name="__main__")
    _sync_await(wait_for_rpcs())
    """
)


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    # Exit 1 is a policy violation (synthetic resources break rules on purpose); anything else is a failure.
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed


def median_of(runs: int, command: list[str], cwd: Path) -> float:
    return statistics.median(timed(command, cwd) for _ in range(runs))


def synthetic_project(directory: Path, count: int) -> Path:
    project = directory / f"synthetic-{count}"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: synthetic\nruntime: python\n"
        "config:\n  count:\n    type: integer\n    description: resources to register\n"
    )
    (project / "Pulumi.synthetic.yaml").write_text(f"config:\n  synthetic:count: {count}\n")
    (project / "__main__.py").write_text(SYNTHETIC_PROGRAM)
    return project


def planned_resources(project: Path) -> int:
    proc = subprocess.run(
        [*CHEFCHATZ, "plan", "--stack", "synthetic", "--format", "json", "--project-dir", str(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return sum(len(stack["resources"]) for stack in json.loads(proc.stdout)["stacks"])


def base_ratio(runs: int, base: str) -> None:
    """`--base` against the head alone, alternately (a loaded machine slows both alike)."""
    head_command = [*CHEFCHATZ, "plan", "--stack", "all", "--format", "json"]
    base_command = [*head_command, "--base", base]
    head, with_base = [], []
    for _ in range(runs):
        head.append(timed(head_command, ROOT))
        with_base.append(timed(base_command, ROOT))
    head_s, base_s = statistics.median(head), statistics.median(with_base)
    print(f"plan --stack all (head alone)  : {head_s:6.2f} s (median of {runs})")
    print(f"plan --stack all --base {base:<7}: {base_s:6.2f} s (median of {runs})")
    ratio = base_s / head_s
    print(f"--base / head alone            : {ratio:6.2f}x (goal <= 1.6x: {'yes' if ratio <= 1.6 else 'NO'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000], help="synthetic stack sizes")
    parser.add_argument("--base", default="HEAD~1", help="the REF of the --base measurement")
    parser.add_argument("--only-base", action="store_true", help="measure only --base against the head alone")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    if args.only_base:
        base_ratio(args.runs, args.base)
        return

    plan = median_of(args.runs, [*CHEFCHATZ, "plan", "--stack", "all", "--format", "json"], ROOT)
    sdk = median_of(
        args.runs,
        [sys.executable, "-c", "from pathlib import Path; from ops.plan.offline import preload; preload(Path('.'))"],
        ROOT,
    )
    print(f"plan --stack all --format json : {plan:6.2f} s (median of {args.runs})")
    print(f"import the SDKs alone          : {sdk:6.2f} s (median of {args.runs})")
    print(
        f"ratio                          : {plan / sdk:6.2f}x (goal <= 3x; plan < 5 s: {'yes' if plan < 5 else 'NO'})"
    )

    with tempfile.TemporaryDirectory(prefix="chefchatz-bench-") as scratch:
        empty = synthetic_project(Path(scratch), 0)
        base = median_of(
            args.runs,
            [*CHEFCHATZ, "plan", "--stack", "synthetic", "--format", "json", "--project-dir", str(empty)],
            ROOT,
        )
        print(f"synthetic stack, 0 resources   : {base:6.2f} s (start-up, imports, policy pack)")
        sdk_base = median_of(args.runs, [sys.executable, "-c", SDK_ALONE, str(empty), "0"], ROOT)
        per_resource = []
        for size in args.sizes:
            project = synthetic_project(Path(scratch), size)
            registered = planned_resources(project)
            total = median_of(
                args.runs,
                [*CHEFCHATZ, "plan", "--stack", "synthetic", "--format", "json", "--project-dir", str(project)],
                ROOT,
            )
            cost = (total - base) / registered * 1000
            per_resource.append(cost)
            print(
                f"synthetic stack, {registered:>5} resources: {total:6.2f} s -> {cost:.3f} ms per resource "
                f"(goal <= 1 ms: {'yes' if cost <= 1 else 'NO'})"
            )
            alone = median_of(args.runs, [sys.executable, "-c", SDK_ALONE, str(project), str(size)], ROOT)
            floor = (alone - sdk_base) / size * 1000
            print(
                f"  Pulumi's SDK alone, same program: {floor:.3f} ms per resource; "
                f"the plan costs {cost / floor:.2f}x that"
            )
        if len(per_resource) > 1:
            print(f"linearity (last / first per-resource cost): {per_resource[-1] / per_resource[0]:.2f}")
    base_ratio(args.runs, args.base)


if __name__ == "__main__":
    main()

"""Canary rule: production releases through a Vercel rolling release that the SLO judge drives.

- `rolling-release-in-production`: a `vercel.ProjectRollingRelease` with manual approval (a stage moves
  on only when `chefchatz rollout watch` approves it on real traffic, never on Vercel's timer), ending at
  100 % after at least `minStagesBefore100` (default 2) increasing stages, so a bad deployment meets a
  small share of users first and a second look before most of them.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs

from policies.common import (
    PRODUCTION_STACKS,
    config_with_defaults,
    get,
    of_type,
    stack_name,
    stack_policy,
    stack_schema,
)

ROLLING_RELEASE = "vercel:index/projectRollingRelease:ProjectRollingRelease"
DEFAULTS = {"minStagesBefore100": 2}


def rolling_release_problems(props: Any, min_before: int) -> list[str]:
    """What keeps one rolling release from being a judged canary release, each naming the value."""
    problems = []
    advancement = get(props, "advancementType")
    if advancement != "manual-approval":
        problems.append(
            f"advances {advancement!r}, not 'manual-approval': stages would move on a timer, not on the SLOs"
        )
    # Numbers arrive as floats from the engine (protobuf Struct): 5.0, shown as 5.
    stages = [float(get(stage, "targetPercentage")) for stage in list(get(props, "stages", default=[]) or [])]
    shown = "[" + ", ".join(f"{p:g}" for p in stages) + "]"
    if not stages or stages[-1] != 100:
        problems.append(f"stages {shown} do not end at 100")
    if any(b <= a for a, b in pairwise(stages)):
        problems.append(f"stages {shown} do not increase strictly")
    before = [p for p in stages if p < 100]
    if len(before) < min_before:
        problems.append(f"has {len(before)} stage(s) before 100 % ({shown}); at least {min_before} are required")
    return problems


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    config = config_with_defaults(args, DEFAULTS)
    if stack_name(args) not in config.get("productionStacks", PRODUCTION_STACKS):
        return
    releases = of_type(args.resources, ROLLING_RELEASE)
    if not releases:
        report(
            "production has no Vercel rolling release: a deploy would reach 100 % of users before any SLO check "
            "(set chefchatz:rolloutStages)",
            None,
        )
        return
    min_before = int(float(str(config["minStagesBefore100"])))
    good = False
    for release in releases:
        problems = rolling_release_problems(release.props, min_before)
        for problem in problems:
            report(f"rolling release {release.name} {problem}", release.urn)
        good = good or not problems
    if not good:
        report("production has no rolling release that the SLO judge drives through enough stages", None)


rolling_release_in_production = stack_policy(
    "rolling-release-in-production",
    "Production deploys through a Vercel rolling release with manual approval and at least two stages before "
    "100 %, promoted or aborted by `chefchatz rollout watch` on the SLOs.",
    _validate,
    schema=stack_schema(minStagesBefore100={"type": "integer", "default": DEFAULTS["minStagesBefore100"]}),
)

POLICIES = [rolling_release_in_production]

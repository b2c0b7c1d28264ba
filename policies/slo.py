"""SLO rules: production measures its SLOs on real traffic and alarms on the error budget.

- `slo-drain-in-production`: a signed Vercel log drain of production request logs (json or
  ndjson) for the stack's project, so what users got is measured at all;
- `slo-burn-rate-alarms`: for every multiwindow burn-rate alert of the budget (default the spec's
  0.1 % over 30 d; `ops.slo.budget.burn_rate_alerts`), a long- and a short-window error-rate alarm
  at or below the threshold, joined by a composite alarm that notifies;
- `slo-dashboard`: a CloudWatch dashboard charting the receiver's metrics (requests, errors,
  latency, apdex).
"""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from ops.slo.budget import burn_rate_alerts
from policies.common import (
    ALARM,
    PRODUCTION_STACKS,
    config_with_defaults,
    get,
    of_type,
    stack_name,
    stack_policy,
    stack_schema,
)

LOG_DRAIN = "vercel:index/logDrain:LogDrain"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
SLO_NAMESPACE = "ChefChatz/SLO"
REQUEST_SOURCES = ("lambda", "static")
DASHBOARD_METRICS = ("Requests", "ServerErrors", "Latency", "ApdexSatisfied")
DEFAULTS = {"errorBudgetPercent": 0.1, "errorBudgetWindowDays": 30}


def _production(args: StackValidationArgs, config: dict[str, Any]) -> bool:
    return stack_name(args) in config.get("productionStacks", PRODUCTION_STACKS)


def _validate_drain(args: StackValidationArgs, report: ReportViolation) -> None:
    config = config_with_defaults(args, {})
    if not _production(args, config):
        return
    drains = of_type(args.resources, LOG_DRAIN)
    if not drains:
        report("production has no Vercel log drain: the SLOs would be measured on probes, not on real traffic", None)
        return
    good = False
    for drain in drains:
        problems = []
        if "production" not in list(get(drain.props, "environments", default=[]) or []):
            problems.append("does not send production logs")
        if get(drain.props, "deliveryFormat") not in ("json", "ndjson"):
            problems.append(f"delivers {get(drain.props, 'deliveryFormat')!r}, not json or ndjson")
        missing = [s for s in REQUEST_SOURCES if s not in list(get(drain.props, "sources", default=[]) or [])]
        if missing:
            problems.append(f"leaves out the request sources {missing}")
        if not get(drain.props, "secret"):
            problems.append("has no signing secret, so forged deliveries could not be told apart")
        if not len(get(drain.props, "projectIds", default=[]) or []):
            problems.append("names no project")
        for problem in problems:
            report(f"log drain {drain.name} {problem}", drain.urn)
        good = good or not problems
    if not good:
        report("production has no log drain that measures its real requests", None)


def _query_period(alarm: PolicyResource, metric_name: str) -> float | None:
    for query in list(get(alarm.props, "metricQueries", default=[]) or []):
        metric = get(query, "metric")
        if metric and get(metric, "metricName") == metric_name and get(metric, "namespace") == SLO_NAMESPACE:
            return float(get(metric, "period"))
    return None


def _validate_burn_rates(args: StackValidationArgs, report: ReportViolation) -> None:
    config = config_with_defaults(args, DEFAULTS)
    if not _production(args, config):
        return
    budget = float(str(config["errorBudgetPercent"]))
    window_s = float(str(config["errorBudgetWindowDays"])) * 86400
    error_alarms = [a for a in of_type(args.resources, ALARM) if _query_period(a, "ServerErrors") is not None]
    composites = [c for c in of_type(args.resources, COMPOSITE_ALARM) if get(c.props, "alarmActions")]
    for alert in burn_rate_alerts(budget, window_s):

        def alarm_names(period: int, threshold: float = alert.error_rate_threshold) -> list[str]:
            return [
                str(get(a.props, "name"))
                for a in error_alarms
                if _query_period(a, "ServerErrors") == period and float(get(a.props, "threshold")) <= threshold + 1e-12
            ]

        longs, shorts = alarm_names(alert.long_window_s), alarm_names(alert.short_window_s)
        paired = any(
            any(f'"{n}"' in str(get(c.props, "alarmRule")) for n in longs)
            and any(f'"{n}"' in str(get(c.props, "alarmRule")) for n in shorts)
            for c in composites
        )
        if not paired:
            report(
                f"no notifying burn-rate alert {alert.name}: the error rate over {alert.long_window_s // 60} min AND "
                f"over {alert.short_window_s // 60} min above {alert.error_rate_threshold * 100:g}% "
                f"({alert.burn_rate:g}x a {budget:g}% budget over {window_s / 86400:g}d)",
                None,
            )


def _validate_dashboard(args: StackValidationArgs, report: ReportViolation) -> None:
    config = config_with_defaults(args, {})
    if not _production(args, config):
        return
    for dashboard in of_type(args.resources, DASHBOARD):
        body = json.loads(str(get(dashboard.props, "dashboardBody")))
        charted = json.dumps(body)
        if SLO_NAMESPACE in charted and all(f'"{m}"' in charted for m in DASHBOARD_METRICS):
            return
    report(
        f"production has no dashboard charting the SLO metrics ({', '.join(DASHBOARD_METRICS)} in {SLO_NAMESPACE})",
        None,
    )


slo_drain_in_production = stack_policy(
    "slo-drain-in-production",
    "Production sends its request logs to the SLO receiver through a signed Vercel log drain (json or ndjson).",
    _validate_drain,
    schema=stack_schema(),
)

slo_burn_rate_alarms = stack_policy(
    "slo-burn-rate-alarms",
    "Production alarms on its error budget with the multiwindow burn-rate alerts (14.4x 1h/5m, 6x 6h/30m, "
    "1x 3d/6h for 0.1% over 30d), each notifying.",
    _validate_burn_rates,
    schema=stack_schema(
        errorBudgetPercent={"type": "number", "default": DEFAULTS["errorBudgetPercent"]},
        errorBudgetWindowDays={"type": "number", "default": DEFAULTS["errorBudgetWindowDays"]},
    ),
)

slo_dashboard = stack_policy(
    "slo-dashboard",
    "Production has a CloudWatch dashboard of its SLOs: requests, errors, latency and apdex of real traffic.",
    _validate_dashboard,
    schema=stack_schema(),
)

POLICIES = [slo_drain_in_production, slo_burn_rate_alarms, slo_dashboard]

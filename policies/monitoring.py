"""Monitoring rules: every production domain is probed like the spec says, and alarms watch its
health and its latency against the SLOs.

Alarms are tied to their health check through property dependencies (the health check id is
unknown before the first deployment, the dependency is not).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.common import (
    ALARM,
    HEALTH_CHECK,
    PRODUCTION_STACKS,
    VERCEL_DOMAIN,
    config_with_defaults,
    get,
    of_type,
    stack_name,
    stack_policy,
    stack_schema,
)

DEFAULTS = {"healthPath": "/api/health", "interval": 30, "unhealthyThreshold": 2, "p95Ms": 200, "p99Ms": 500}


def _config(args: StackValidationArgs) -> dict[str, Any]:
    return config_with_defaults(args, DEFAULTS)


def _alarms_for(args: StackValidationArgs, check: PolicyResource) -> list[PolicyResource]:
    found = []
    for alarm in of_type(args.resources, ALARM):
        deps = alarm.property_dependencies.get("dimensions", [])
        if any(d.urn == check.urn for d in deps):
            found.append(alarm)
    return found


def _validate_monitored(args: StackValidationArgs, report: ReportViolation) -> None:
    config = _config(args)
    if stack_name(args) not in config.get("productionStacks", PRODUCTION_STACKS):
        return
    checks = of_type(args.resources, HEALTH_CHECK)
    for domain in of_type(args.resources, VERCEL_DOMAIN):
        name = str(domain.props["domain"])
        mine = [c for c in checks if get(c.props, "fqdn") == name]
        if not mine:
            report(f"production domain {name} has no health check", domain.urn)
            continue
        for check in mine:
            problems = []
            if get(check.props, "resourcePath") != config["healthPath"]:
                problems.append(f"probes {get(check.props, 'resourcePath')!r}, not {config['healthPath']!r}")
            interval = float(get(check.props, "requestInterval", default=30))
            if interval > float(str(config["interval"])):
                problems.append(f"probes every {interval:g}s, the spec says every {config['interval']:g}s")
            threshold = float(get(check.props, "failureThreshold", default=3))
            if threshold > float(str(config["unhealthyThreshold"])):
                problems.append(
                    f"needs {threshold:g} failures before unhealthy, the spec says {config['unhealthyThreshold']:g}"
                )
            if get(check.props, "disabled") is True:
                problems.append("is disabled")
            alarms = _alarms_for(args, check)
            if not any(
                get(a.props, "metricName") == "HealthCheckStatus" and get(a.props, "alarmActions") for a in alarms
            ):
                problems.append("has no alarm that notifies anyone when it fails")
            for problem in problems:
                report(f"health check of {name} {problem}", check.urn)


production_domains_monitored = stack_policy(
    "production-domains-monitored",
    "Every production domain has an HTTPS health check of /api/health every 30s, unhealthy after 2 "
    "failures, with an alarm that notifies.",
    _validate_monitored,
    schema=stack_schema(
        healthPath={"type": "string", "default": DEFAULTS["healthPath"]},
        interval={"type": "integer", "default": DEFAULTS["interval"]},
        unhealthyThreshold={"type": "integer", "default": DEFAULTS["unhealthyThreshold"]},
    ),
)


def _validate_slo_alarms(args: StackValidationArgs, report: ReportViolation) -> None:
    config = _config(args)
    if stack_name(args) not in config.get("productionStacks", PRODUCTION_STACKS):
        return
    for check in of_type(args.resources, HEALTH_CHECK):
        if get(check.props, "measureLatency") is not True:
            report(f"health check of {get(check.props, 'fqdn')} does not measure latency", check.urn)
            continue
        alarms = [a for a in _alarms_for(args, check) if get(a.props, "metricName") == "TimeToFirstByte"]
        for percentile, key in (("p95", "p95Ms"), ("p99", "p99Ms")):
            limit = float(str(config[key]))
            mine = [a for a in alarms if get(a.props, "tags", "slo-objective") == percentile]
            if not mine:
                report(f"no {percentile} latency alarm for {get(check.props, 'fqdn')} (SLO {limit:g}ms)", check.urn)
            for alarm in mine:
                if float(alarm.props["threshold"]) > limit:
                    report(
                        f"{percentile} alarm fires above {float(alarm.props['threshold']):g}ms; the SLO is {limit:g}ms",
                        alarm.urn,
                    )


slo_alarms = stack_policy(
    "slo-alarms",
    "Production latency is alarmed at the SLOs: p95 200ms and p99 500ms.",
    _validate_slo_alarms,
    schema=stack_schema(
        p95Ms={"type": "number", "default": DEFAULTS["p95Ms"]},
        p99Ms={"type": "number", "default": DEFAULTS["p99Ms"]},
    ),
)

POLICIES = [production_domains_monitored, slo_alarms]

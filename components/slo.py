"""Slo: the SLOs measured on what users actually got.

A Vercel log drain sends the project's production request logs (ndjson, signed with the drain
secret) to a Lambda function URL running `ops.slo.receiver`, packaged from this repository. The
receiver writes per-stack and per-deployment counters to CloudWatch (`ChefChatz/SLO`); a
DynamoDB table with a TTL holds the digests of recorded deliveries so a redelivery is not counted
twice. On those metrics:

- multiwindow, multi-burn-rate alarms on the error budget (`ops.slo.budget.burn_rate_alerts`:
  14.4x over 1h and 5m, 6x over 6h and 30m, 1x over 3d and 6h for 0.1 % / 30 d), each a
  composite of its long- and short-window alarm, notifying the stack's SNS topic;
- apdex below target over an hour; p95 / p99 above the objective over 15 minutes, decided
  exactly by counting: p95 <= 200 ms  <=>  at most 5 % of requests slower than 200 ms;
- a dashboard: SLI, budget remaining, burn rates, p95/p99, apdex, health checks, backup freshness.

Everything lives in `METRICS_REGION`, beside the health-check alarms and the topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumiverse_vercel as vercel

import ops.slo as ops_slo
from components.monitoring import METRICS_REGION
from components.naming import NamingContext
from ops.slo import METRIC_NAMESPACE, MIN_REQUESTS_PER_WINDOW, BurnRateAlert, burn_rate_alerts

# Request-serving sources (not build output or firewall denials), as the receiver counts them.
DRAIN_SOURCES = ("lambda", "edge", "static", "external", "redirect")
# The receiver's modules: standard library and boto3 only (both in the Lambda Python runtime).
RECEIVER_FILES = (
    "ops/__init__.py",
    "ops/slo/__init__.py",
    "ops/slo/budget.py",
    "ops/slo/drain.py",
    "ops/slo/metrics.py",
    "ops/slo/receiver.py",
)
# Where `ops` really is (this checkout, or the installed tool), not where this file happens to be.
OPS_ROOT = Path(ops_slo.__file__).resolve().parents[2]
P95_SHARE, P99_SHARE = 0.05, 0.01
APDEX_WINDOW_S = 3600
LATENCY_PERIOD_S, LATENCY_PERIODS = 300, 3


@dataclass(frozen=True)
class SloObjectives:
    apdex: float
    apdex_threshold_ms: float
    p95_ms: float
    p99_ms: float
    budget_percent: float
    window_s: float
    # The rollback trigger's response time: the receiver counts requests slower than it per deployment
    # so `rollback watch --source metrics` and `rollout watch` can judge real traffic against it.
    rollback_response_ms: float


@dataclass(frozen=True)
class SloArgs:
    naming: NamingContext
    team_id: str
    vercel_project_id: pulumi.Input[str]
    drain_secret: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    objectives: SloObjectives
    # Names of the health-check alarms (Monitoring); the dashboard shows their state.
    health_alarm_names: tuple[pulumi.Input[str], ...] = ()
    backup_kinds: tuple[str, ...] = ()
    backup_region: str = METRICS_REGION
    # The receiver's reserved concurrency: its public URL can never scale it past this.
    reserved_concurrency: int = 10


def ratio_query(numerator: str, denominator: str, period: int, stack: str, otherwise: float) -> list[dict[str, Any]]:
    """Metric-math queries of numerator / denominator over one period, `otherwise` below the
    minimum traffic (a quiet window can neither page nor prove anything)."""

    def metric(query_id: str, name: str) -> dict[str, Any]:
        return {
            "id": query_id,
            "return_data": False,
            "metric": {
                "namespace": METRIC_NAMESPACE,
                "metric_name": name,
                "dimensions": {"Stack": stack},
                "period": period,
                "stat": "Sum",
            },
        }

    return [
        metric("n", numerator),
        metric("d", denominator),
        {
            "id": "ratio",
            "expression": f"IF(d >= {MIN_REQUESTS_PER_WINDOW}, n / d, {otherwise:g})",
            "label": f"{numerator} / {denominator}",
            "return_data": True,
        },
    ]


def apdex_queries(period: int, stack: str) -> list[dict[str, Any]]:
    """(satisfied + tolerating / 2) / requests; 1 (perfect) below the minimum traffic."""
    queries = ratio_query("ApdexSatisfied", "Requests", period, stack, 1)
    tolerating = {**queries[0], "id": "t", "metric": {**queries[0]["metric"], "metric_name": "ApdexTolerating"}}
    queries[2] = {
        "id": "apdex",
        "expression": f"IF(d >= {MIN_REQUESTS_PER_WINDOW}, (n + t / 2) / d, 1)",
        "label": "apdex",
        "return_data": True,
    }
    return [queries[0], tolerating, queries[1], queries[2]]


def burn_window_queries(alert: BurnRateAlert, stack: str, long: bool) -> list[dict[str, Any]]:
    """Error rate over the alert's long or short window. Only the long window needs the minimum
    traffic; the short one only confirms the burn is still going on (so the alert resets fast)."""
    period = alert.long_window_s if long else alert.short_window_s
    queries = ratio_query("ServerErrors", "Requests", period, stack, 0)
    if not long:
        queries[2] = {**queries[2], "expression": "IF(d > 0, n / d, 0)"}
    return queries


def _queries(specs: list[dict[str, Any]]) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    out = []
    for spec in specs:
        metric = spec.get("metric")
        out.append(
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=spec["id"],
                expression=spec.get("expression"),
                label=spec.get("label"),
                return_data=spec["return_data"],
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(**metric) if metric else None,
            )
        )
    return out


def dashboard_body(
    stack: str,
    objectives: SloObjectives,
    health_alarm_arns: list[str],
    backup_kinds: tuple[str, ...],
    backup_region: str,
) -> str:
    """The CloudWatch dashboard JSON (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html)."""
    ns, dim = METRIC_NAMESPACE, ["Stack", stack]
    budget = objectives.budget_percent / 100
    window = int(objectives.window_s)

    def widget(title: str, metrics: list[Any], x: int, y: int, **props: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {"title": title, "region": props.pop("region", METRICS_REGION), "metrics": metrics, **props},
        }

    def counter(name: str, query_id: str, period: int | None = None) -> list[Any]:
        options: dict[str, Any] = {"id": query_id, "visible": False, "stat": "Sum"}
        if period:
            options["period"] = period
        return [ns, name, *dim, options]

    burn_metrics: list[Any] = []
    for index, alert in enumerate(burn_rate_alerts(objectives.budget_percent, objectives.window_s)):
        burn_metrics += [
            counter("ServerErrors", f"e{index}", alert.long_window_s),
            counter("Requests", f"r{index}", alert.long_window_s),
            [
                {
                    "expression": f"(e{index} / r{index}) / {budget:g}",
                    "label": f"burn {alert.name} (page at {alert.burn_rate:g}x)",
                    "id": f"b{index}",
                }
            ],
        ]
    widgets = [
        widget(
            "SLI: share of requests without a server error",
            [
                counter("ServerErrors", "e"),
                counter("Requests", "r"),
                [{"expression": "1 - e / r", "label": "SLI", "id": "sli"}],
            ],
            0,
            0,
            stat="Sum",
            period=300,
            yAxis={"left": {"min": 0.99, "max": 1}},
        ),
        widget(
            f"Error budget remaining ({objectives.budget_percent:g}% over {window // 86400}d)",
            [
                counter("ServerErrors", "e", window),
                counter("Requests", "r", window),
                [{"expression": f"1 - e / (r * {budget:g})", "label": "budget remaining", "id": "left"}],
            ],
            12,
            0,
            view="singleValue",
            period=window,
        ),
        widget("Burn rates", burn_metrics, 0, 6, view="timeSeries"),
        widget(
            "Latency of real requests (function duration)",
            [
                [ns, "Latency", *dim, {"stat": "p95", "label": f"p95 (objective {objectives.p95_ms:g}ms)"}],
                [ns, "Latency", *dim, {"stat": "p99", "label": f"p99 (objective {objectives.p99_ms:g}ms)"}],
            ],
            12,
            6,
            period=300,
        ),
        widget(
            f"Apdex (T = {objectives.apdex_threshold_ms:g}ms, target {objectives.apdex:g})",
            [
                counter("ApdexSatisfied", "s"),
                counter("ApdexTolerating", "t"),
                counter("Requests", "r"),
                [{"expression": "(s + t / 2) / r", "label": "apdex", "id": "apdex"}],
            ],
            0,
            12,
            period=3600,
        ),
        widget(
            "Function memory (max used, MB)",
            [
                [ns, "FunctionMaxMemoryUsed", *dim, {"stat": "p99"}],
                [ns, "FunctionMaxMemoryUsed", *dim, {"stat": "Maximum"}],
            ],
            12,
            12,
            period=300,
        ),
        {
            "type": "alarm",
            "x": 0,
            "y": 18,
            "width": 12,
            "height": 6,
            "properties": {"title": "Health checks and their latency alarms", "alarms": health_alarm_arns},
        },
    ]
    if backup_kinds:
        widgets.append(
            widget(
                "Successful backups per hour",
                [
                    ["ChefChatz/Backups", "BackupSucceeded", "Stack", stack, "Kind", kind, {"stat": "Sum"}]
                    for kind in backup_kinds
                ],
                12,
                18,
                period=3600,
                region=backup_region,
            )
        )
    return json.dumps({"widgets": widgets})


class Slo(pulumi.ComponentResource):
    """The drain, its receiver, the SLO alarms and the dashboard of one stack."""

    def __init__(self, name: str, args: SloArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chefchatz:slo:Slo", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        naming, tags, stack = args.naming, args.naming.tags, args.naming.stack
        objectives = args.objectives
        self._naming = naming

        self.deliveries = aws.dynamodb.Table(
            f"{name}-deliveries",
            name=naming.name("slo-deliveries"),
            region=METRICS_REGION,
            billing_mode="PAY_PER_REQUEST",
            hash_key="key",
            attributes=[aws.dynamodb.TableAttributeArgs(name="key", type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expiresAt", enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            tags=tags,
            opts=args.naming.stateful(child),
        )
        self.role = aws.iam.Role(
            f"{name}-receiver",
            name=naming.name("slo-receiver"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-receiver-logs",
            role=self.role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-receiver-access",
            role=self.role.id,
            policy=self.deliveries.arn.apply(receiver_policy),
            opts=child,
        )
        # Created before the function so its logs are kept 30 days, not forever.
        self.logs = aws.cloudwatch.LogGroup(
            f"{name}-receiver-log-group",
            name=f"/aws/lambda/{naming.name('slo-receiver')}",
            region=METRICS_REGION,
            retention_in_days=30,
            tags=tags,
            opts=child,
        )
        verification = vercel.get_endpoint_verification_output(team_id=args.team_id)
        self.function = aws.lambda_.Function(
            f"{name}-receiver",
            name=naming.name("slo-receiver"),
            region=METRICS_REGION,
            runtime="python3.12",
            architectures=["arm64"],
            handler="ops.slo.receiver.handler",
            code=pulumi.AssetArchive({path: pulumi.FileAsset(str(OPS_ROOT / path)) for path in RECEIVER_FILES}),
            role=self.role.arn,
            memory_size=256,
            timeout=30,
            # The URL is public: a flood of unsigned requests is answered 403, but without a cap it would
            # scale the function up to the account's limit and starve every other function.
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "CHEFCHATZ_STACK": stack,
                    "DRAIN_SECRET": pulumi.Output.secret(args.drain_secret),
                    "VERCEL_VERIFY_CODE": verification.verification_code,
                    "IDEMPOTENCY_TABLE": self.deliveries.name,
                    "METRIC_NAMESPACE": METRIC_NAMESPACE,
                    "APDEX_T_MS": f"{objectives.apdex_threshold_ms:g}",
                    "P95_MS": f"{objectives.p95_ms:g}",
                    "P99_MS": f"{objectives.p99_ms:g}",
                    "ROLLBACK_RESPONSE_MS": f"{objectives.rollback_response_ms:g}",
                }
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.logs]),
        )
        self.url = aws.lambda_.FunctionUrl(
            f"{name}-receiver-url",
            region=METRICS_REGION,
            function_name=self.function.name,
            # Vercel cannot sign AWS requests; every delivery is authenticated by its HMAC instead.
            authorization_type="NONE",
            opts=child,
        )
        # Function URLs with auth NONE need both grants (AWS Lambda, October 2025 permission model).
        public_url = aws.lambda_.Permission(
            f"{name}-receiver-public-url",
            region=METRICS_REGION,
            function=self.function.name,
            action="lambda:InvokeFunctionUrl",
            principal="*",
            function_url_auth_type="NONE",
            opts=child,
        )
        public_invoke = aws.lambda_.Permission(
            f"{name}-receiver-public-invoke",
            region=METRICS_REGION,
            function=self.function.name,
            action="lambda:InvokeFunction",
            principal="*",
            invoked_via_function_url=True,
            opts=child,
        )
        self.drain = vercel.LogDrain(
            f"{name}-drain",
            name=naming.name("slo"),
            team_id=args.team_id,
            delivery_format="ndjson",
            endpoint=self.url.function_url,
            environments=["production"],
            sources=list(DRAIN_SOURCES),
            project_ids=[args.vercel_project_id],
            secret=pulumi.Output.secret(args.drain_secret),
            # Vercel verifies the endpoint with a request when the drain is created: the URL must
            # answer by then, which it does only once both public grants exist (otherwise 403).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function, public_url, public_invoke]),
        )

        actions = [args.alarm_topic_arn]
        self.burn_alarms: list[aws.cloudwatch.CompositeAlarm] = []
        for alert in burn_rate_alerts(objectives.budget_percent, objectives.window_s):
            windows = []
            for long in (True, False):
                window = alert.long_window_s if long else alert.short_window_s
                label = f"{alert.name}-{'long' if long else 'short'}"
                windows.append(
                    aws.cloudwatch.MetricAlarm(
                        f"{name}-{label}",
                        name=naming.name(f"slo-{label}"),
                        region=METRICS_REGION,
                        alarm_description=(
                            f"error rate over {window // 60} min above {alert.error_rate_threshold * 100:g}% "
                            f"({alert.burn_rate:g}x the {objectives.budget_percent:g}% budget); part of {alert.name}"
                        ),
                        metric_queries=_queries(burn_window_queries(alert, stack, long)),
                        evaluation_periods=1,
                        threshold=alert.error_rate_threshold,
                        comparison_operator="GreaterThanThreshold",
                        treat_missing_data="notBreaching",
                        tags=tags,
                        opts=child,
                    )
                )
            self.burn_alarms.append(
                aws.cloudwatch.CompositeAlarm(
                    f"{name}-{alert.name}",
                    alarm_name=naming.name(f"slo-{alert.name}"),
                    region=METRICS_REGION,
                    alarm_description=(
                        f"{alert.severity}: the error budget ({objectives.budget_percent:g}% over "
                        f"{int(objectives.window_s // 86400)}d) burns at over {alert.burn_rate:g}x in the last "
                        f"{alert.long_window_s // 60} and {alert.short_window_s // 60} minutes. Runbook: docs/slo.md"
                    ),
                    alarm_rule=" AND ".join(
                        f'ALARM("{w_name}")'
                        for w_name in (naming.name(f"slo-{alert.name}-long"), naming.name(f"slo-{alert.name}-short"))
                    ),
                    alarm_actions=actions,
                    ok_actions=actions,
                    tags={**tags, "slo": "burn-rate", "burn-rate": f"{alert.burn_rate:g}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=windows),
                )
            )

        self.objective_alarms = [
            self._alarm(
                name,
                "apdex",
                f"apdex below {objectives.apdex:g} over the last hour (T = {objectives.apdex_threshold_ms:g}ms)",
                apdex_queries(APDEX_WINDOW_S, stack),
                1,
                objectives.apdex,
                "LessThanThreshold",
                actions,
                "apdex",
            ),
            self._alarm(
                name,
                "latency-p95",
                f"p95 of real requests above {objectives.p95_ms:g}ms for 15 minutes (over {P95_SHARE:.0%} slower)",
                ratio_query("SlowOverP95Objective", "Requests", LATENCY_PERIOD_S, stack, 0),
                LATENCY_PERIODS,
                P95_SHARE,
                "GreaterThanThreshold",
                actions,
                "p95",
            ),
            self._alarm(
                name,
                "latency-p99",
                f"p99 of real requests above {objectives.p99_ms:g}ms for 15 minutes (over {P99_SHARE:.0%} slower)",
                ratio_query("SlowOverP99Objective", "Requests", LATENCY_PERIOD_S, stack, 0),
                LATENCY_PERIODS,
                P99_SHARE,
                "GreaterThanThreshold",
                actions,
                "p99",
            ),
        ]

        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=naming.name("slo"),
            region=METRICS_REGION,
            # Built from names and the account id (not from ids created by this deployment), so the
            # body is known at preview time and the slo-dashboard policy can read it.
            dashboard_body=pulumi.Output.all(account, *args.health_alarm_names).apply(
                lambda values: dashboard_body(
                    stack,
                    objectives,
                    [f"arn:aws:cloudwatch:{METRICS_REGION}:{values[0]}:alarm:{n}" for n in values[1:]],
                    args.backup_kinds,
                    args.backup_region,
                )
            ),
            opts=child,
        )
        self.register_outputs(
            {"receiverUrl": self.url.function_url, "drainId": self.drain.id, "dashboard": self.dashboard.dashboard_name}
        )

    def _alarm(
        self,
        name: str,
        suffix: str,
        description: str,
        queries: list[dict[str, Any]],
        periods: int,
        threshold: float,
        comparison: str,
        actions: list[pulumi.Input[str]],
        objective: str,
    ) -> aws.cloudwatch.MetricAlarm:
        naming = self._naming
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{suffix}",
            name=naming.name(f"slo-{suffix}"),
            region=METRICS_REGION,
            alarm_description=f"{description}. Runbook: docs/slo.md",
            metric_queries=_queries(queries),
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            threshold=threshold,
            comparison_operator=comparison,
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            tags={**naming.tags, "slo": objective},
            opts=pulumi.ResourceOptions(parent=self),
        )


def receiver_policy(table_arn: str) -> str:
    """The receiver may write its own metrics namespace and its own delivery keys, nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
                },
                {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": table_arn},
            ],
        }
    )

"""Policy stateful-resources-protected-in-production: production's stateful resources carry `protect`."""

from __future__ import annotations

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

from policies.protection import STATEFUL_TYPES, stateful_resources_protected_in_production
from tests.policies.policy_harness import run_resource_policy

PROTECTED = PolicyResourceOptions(True, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
UNPROTECTED = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


@pytest.mark.parametrize("resource_type", sorted(STATEFUL_TYPES))
def test_an_unprotected_stateful_resource_in_production_is_a_violation_naming_it(resource_type):
    findings = run_resource_policy(
        stateful_resources_protected_in_production, resource_type, {}, name="the-thing", opts=UNPROTECTED
    )
    assert "the-thing" in findings.expect("is not protected").message


@pytest.mark.parametrize(
    ("resource_type", "stack", "opts"),
    [
        ("aws:s3/bucket:Bucket", "prod", PROTECTED),
        ("aws:s3/bucket:Bucket", "staging", UNPROTECTED),
        ("aws:s3/bucket:Bucket", "dev", UNPROTECTED),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "prod", UNPROTECTED),
    ],
)
def test_protected_ones_other_stacks_and_stateless_types_pass(resource_type, stack, opts):
    findings = run_resource_policy(
        stateful_resources_protected_in_production, resource_type, {}, stack=stack, opts=opts
    )
    assert findings == [], findings

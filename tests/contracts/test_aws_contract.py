"""boto3 calls are checked against botocore's service models before they are sent, under moto as against AWS.

This is what makes moto a contract check rather than a second guess: a misspelt operation or parameter,
a missing required one or a wrong type is refused by the client from the model shipped in the pinned
botocore, whatever the stand-in would have answered (docs/contracts.md, "AWS").
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError


def client() -> Any:
    # Port 9 (discard) is never reached: validation happens before anything is sent.
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_misspelt_parameter_is_refused_by_the_service_model_before_sending() -> None:
    with pytest.raises(ParamValidationError, match=r'Unknown parameter in MetricData\[0\]: "MetricNam"'):
        client().put_metric_data(Namespace="ChefChatz/SLO", MetricData=[{"MetricNam": "Requests", "Value": 1.0}])


def test_a_missing_required_parameter_and_a_wrong_type_are_refused() -> None:
    with pytest.raises(ParamValidationError, match=r'Missing required parameter in input: "Namespace"'):
        client().put_metric_data(MetricData=[])
    with pytest.raises(ParamValidationError, match=r"Invalid type for parameter MetricData\[0\]\.Value"):
        client().put_metric_data(Namespace="n", MetricData=[{"MetricName": "m", "Value": "one"}])

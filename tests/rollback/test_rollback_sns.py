"""Rollback notifications to an SNS topic (`--notify sns:<topic ARN>`): the stack's email targets are
the alerts topic's subscribers, so a rollback reaches them as an alarm does. Against moto, in process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ops.rollback import action as act


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any, str]]:
    """An alerts topic with a queue subscribed to it (raw delivery): (topic ARN, sqs client, queue URL)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sns = boto3.client("sns", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        topic = sns.create_topic(Name="chefchatz-prod-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="oncall")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        yield topic, sqs, queue


def test_a_notification_reaches_the_topics_subscribers(inbox: tuple[str, Any, str]) -> None:
    topic, sqs, queue = inbox
    results = act.send_notifications([f"sns:{topic}"], {"text": "rolled back prod: error rate 30 %"})
    assert results == [{"target": "sns:chefchatz-prod-alerts", "ok": True, "error": None}]
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert message["Body"] == "rolled back prod: error rate 30 %"


def test_a_topic_that_cannot_be_reached_is_reported_not_raised(inbox: tuple[str, Any, str]) -> None:
    topic, _, _ = inbox
    missing = topic.rsplit(":", 1)[0] + ":no-such-topic"
    results = act.send_notifications([f"sns:{missing}"], {"text": "x"})
    assert results == [{"target": "sns:no-such-topic", "ok": False, "error": "NotFoundException"}]


@pytest.mark.parametrize("target", ["sns:", "sns:chefchatz-prod-alerts", "sns:arn:aws:sns:eu-west-1:12:topic"])
def test_a_malformed_topic_target_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match="sns:arn:aws:sns:REGION:ACCOUNT:TOPIC"):
        act.check_notify_target(target)
    assert act.check_notify_target("https://hooks.slack.com/services/T/B/x") == "https://hooks.slack.com/services/T/B/x"


def test_the_command_refuses_a_malformed_topic_target_as_bad_input(run: Any) -> None:
    result = run("now", "--project-id", "prj_1", "--notify", "sns:alerts")
    assert result.exit_code == 2, result.output
    assert "--notify" in result.output and "sns:arn:aws:sns:REGION:ACCOUNT:TOPIC" in result.output
    assert "Traceback" not in result.output

"""The drain receiver's Lambda handler and its function URL stand-in hold to the published event and result types.

The source of truth is ``@types/aws-lambda`` (pinned in ``node/package-lock.json``; community types from
DefinitelyTyped): ``LambdaFunctionURLEvent``, what a function URL invokes the function with, and
``LambdaFunctionURLResult``, what the function returns. They are cross-checked with AWS's own page, "Invoking
Lambda function URLs" (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html, payload format 2.0);
where the two differ, docs/contracts.md says so and the stand-in takes the reading both allow.

- Every event the stand-in (``tests/standins/lambda_url.py``) sends the real handler, and every result the
  handler returns, collected over the requests the SLO tests make, is type-checked by ``tsc``.
- The fields the handler reads (``HANDLER_READS``) are fields of the event type, and it reads no other; likewise
  the fields the stand-in reads of a result (``STAND_IN_READS``).
- The handler answers the event AWS's page shows (with its ``null`` fields) as it answers the stand-in's.

Each check is shown to fail, naming the field: a renamed, an added, a dropped and a mistyped field (AWS's ``null``
authorizer and authentication among them), and a read of a field the type lacks.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ops.slo import receiver as receiver_module
from ops.slo.drain import Objectives
from tests.contracts.reads import Reads, keys_in_source, unlisted_keys
from tests.contracts.tsc import Check, FieldsExist, Satisfies, expect_problem
from tests.slo.conftest import SECRET, as_json, as_ndjson, request_lines, signed
from tests.standins.lambda_url import Invocation, http_response, serve

TYPES = "aws-lambda"
EVENT = ("LambdaFunctionURLEvent",)
RESULT = ("LambdaFunctionURLResult",)
# What the handler reads of an event, and the stand-in of a result (the structured kind the handler returns).
HANDLER_READS = frozenset(
    {"requestContext", "requestContext.http", "requestContext.http.method", "headers", "body", "isBase64Encoded"}
)
STAND_IN_READS = frozenset({"statusCode", "headers", "body", "isBase64Encoded"})
STRUCTURED_RESULT = "Exclude<LambdaFunctionURLResult, string>"
MAX_BODY_BYTES = 4096
OBJECTIVES = Objectives(apdex_t_ms=200, p95_ms=200, p99_ms=500)


class _Metrics:
    def __init__(self) -> None:
        self.unreachable = False

    def put_metric_data(self, **request: Any) -> None:
        if self.unreachable:
            raise ConnectionError("CloudWatch unreachable")


class _Store:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    def claim(self, key: str, now: int) -> bool:
        fresh = key not in self.keys
        self.keys.add(key)
        return fresh

    def complete(self, key: str, now: int) -> None:
        del key, now

    def release(self, key: str) -> None:
        self.keys.discard(key)


def receiver(metrics: _Metrics | None = None) -> receiver_module.Receiver:
    """The real receiver, with CloudWatch and DynamoDB left out: this module checks payloads, not metrics."""
    config = receiver_module.ReceiverConfig(
        stack="contract", secret=SECRET, verify_code="v", objectives=OBJECTIVES, max_body_bytes=MAX_BODY_BYTES
    )
    return receiver_module.Receiver(config, metrics or _Metrics(), _Store())


def _batch(name: str) -> list[dict[str, Any]]:
    return request_lines(f"dpl_{name}", f"req_{name}", 200, 12.5)


JSON_BATCH = as_json(_batch("json"))
NDJSON_BATCH = as_ndjson(_batch("ndjson"))
# The kinds of request the SLO tests send the receiver, by what each shows; (method, path, headers, body).
REQUESTS: dict[str, tuple[str, str, dict[str, str], bytes]] = {
    "signed JSON batch": ("POST", "/", signed(JSON_BATCH), JSON_BATCH),
    "signed NDJSON batch": (
        "POST",
        "/",
        {**signed(NDJSON_BATCH), "content-type": "application/x-ndjson"},
        NDJSON_BATCH,
    ),
    "redelivery": ("POST", "/", signed(JSON_BATCH), JSON_BATCH),
    "unsigned batch": ("POST", "/", {}, JSON_BATCH),
    "verification GET": ("GET", "/", {}, b""),
    "verification POST": ("POST", "/", {}, b""),
    "query string": ("GET", "/?source=vercel&source=probe&empty=", {}, b""),
    "other method": ("PUT", "/", {}, b"x"),
    "too large": ("POST", "/", signed(b"[" + b" " * MAX_BODY_BYTES + b"]"), b"[" + b" " * MAX_BODY_BYTES + b"]"),
}
STATUSES = {
    "signed JSON batch": 200,
    "signed NDJSON batch": 200,
    "redelivery": 200,
    "unsigned batch": 403,
    "verification GET": 200,
    "verification POST": 200,
    "query string": 200,
    "other method": 405,
    "too large": 413,
    "metrics unreachable": 500,
}


@functools.cache
def invocations() -> dict[str, Invocation]:
    """Each request of REQUESTS through the stand-in to the real handler, then one whose metrics cannot be sent."""
    found: dict[str, Invocation] = {}
    metrics = _Metrics()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(receiver_module, "_receiver", receiver(metrics))
        with serve(receiver_module.handler) as function_url:
            for label, (method, path, headers, body) in REQUESTS.items():
                httpx.request(method, function_url.url.rstrip("/") + path, headers=headers, content=body, timeout=30)
                found[label] = function_url.invocations[-1]
            metrics.unreachable = True
            fresh = as_json(_batch("lost"))
            httpx.post(function_url.url, headers=signed(fresh), content=fresh, timeout=30)
            found["metrics unreachable"] = function_url.invocations[-1]
    return found


def event_is_documented(name: str, event: Any) -> Satisfies:
    return Satisfies(name, TYPES, EVENT, "LambdaFunctionURLEvent", event)


def result_is_documented(name: str, result: Any) -> Satisfies:
    return Satisfies(name, TYPES, RESULT, "LambdaFunctionURLResult", result)


def served_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for label, invocation in invocations().items():
        checks[f"lambda event ({label})"] = event_is_documented(f"lambda event ({label})", invocation.event)
        checks[f"lambda result ({label})"] = result_is_documented(f"lambda result ({label})", invocation.result)
    return checks


def _event(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    event = copy.deepcopy(invocations()["signed JSON batch"].event)
    change(event)
    return event


def _renamed(event: dict[str, Any]) -> None:
    event["rawpath"] = event.pop("rawPath")


# Each mutation of a served event, result or reads list, and where tsc must say it is wrong.
MUTATIONS: dict[str, tuple[Callable[[str], Check], str, tuple[str, ...]]] = {
    "renamed": (
        lambda name: event_is_documented(name, _event(_renamed)),
        "rawpath",
        ('"rawpath"', "does not exist in type 'APIGatewayProxyEventV2"),
    ),
    "added (AWS's null authorizer)": (
        lambda name: event_is_documented(name, _event(lambda e: e["requestContext"].update(authorizer=None))),
        "requestContext.authorizer",
        ('"authorizer"', "does not exist"),
    ),
    "null where the type has none (AWS's authentication)": (
        lambda name: event_is_documented(name, _event(lambda e: e["requestContext"].update(authentication=None))),
        "requestContext.authentication",
        ("Type 'null' is not assignable",),
    ),
    "dropped": (
        lambda name: event_is_documented(name, _event(lambda e: e.pop("rawQueryString"))),
        "(payload)",
        ("'rawQueryString' is missing",),
    ),
    "dropped nested": (
        lambda name: event_is_documented(name, _event(lambda e: e["requestContext"]["http"].pop("sourceIp"))),
        "requestContext.http",
        ("sourceIp",),
    ),
    "mistyped": (
        lambda name: event_is_documented(name, _event(lambda e: e["requestContext"].update(timeEpoch="1631055022677"))),
        "requestContext.timeEpoch",
        ("'string' is not assignable to type 'number'",),
    ),
    "result renamed": (
        lambda name: result_is_documented(name, {"status": 200, "body": "{}"}),
        "status",
        ('"status"', "does not exist"),
    ),
    "result mistyped": (
        lambda name: result_is_documented(name, {"statusCode": "200", "body": "{}"}),
        "statusCode",
        ("'string' is not assignable to type 'number'",),
    ),
    "read of a field the type lacks": (
        lambda name: FieldsExist(name, TYPES, EVENT, "LambdaFunctionURLEvent", HANDLER_READS | {"requestContext.verb"}),
        "requestContext.verb",
        ("Property 'verb' does not exist",),
    ),
}
READS_CHECKS = {
    "handler": FieldsExist("lambda handler reads", TYPES, EVENT, "LambdaFunctionURLEvent", HANDLER_READS),
    "stand-in": FieldsExist("lambda stand-in reads", TYPES, RESULT, STRUCTURED_RESULT, STAND_IN_READS),
}


def type_checks() -> list[Check]:
    """This module's share of the one tsc run (``type_checked`` in conftest.py)."""
    mutated = [make(f"lambda mutation {name}") for name, (make, _, _) in MUTATIONS.items()]
    return [*served_checks().values(), *mutated, *READS_CHECKS.values()]


# --- events and results ---------------------------------------------------------------------------


def test_the_requests_reach_the_handler_and_get_the_receivers_answers() -> None:
    statuses = {label: http_response(i.result)[0] for label, i in invocations().items()}
    assert statuses == STATUSES


def test_the_stand_in_sends_bodies_as_text_and_as_base64_and_none_without_a_body() -> None:
    events = {label: i.event for label, i in invocations().items()}
    assert events["signed JSON batch"]["isBase64Encoded"] is False
    assert events["signed NDJSON batch"]["isBase64Encoded"] is True
    assert "body" not in events["verification GET"] and events["verification GET"]["isBase64Encoded"] is False
    query = events["query string"]
    assert (query["rawPath"], query["rawQueryString"]) == ("/", "source=vercel&source=probe&empty=")
    assert query["queryStringParameters"] == {"source": "vercel,probe", "empty": ""}


def test_every_event_and_result_holds_to_the_published_types(type_checked: dict[str, list[str]]) -> None:
    checks = served_checks()
    assert len(checks) == 2 * len(STATUSES)
    assert {name: type_checked[name] for name in checks if type_checked[name]} == {}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_mutated_event_result_or_read_fails_the_type_check_naming_the_field(
    type_checked: dict[str, list[str]], mutation: str
) -> None:
    _, path, words = MUTATIONS[mutation]
    expect_problem(type_checked[f"lambda mutation {mutation}"], path, *words)


def test_the_handler_answers_the_event_awss_page_shows_as_it_answers_the_stand_ins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # AWS's page: authentication and authorizer are null without IAM auth; pathParameters and stageVariables
    # are null or absent. The types have none of these nulls: the stand-in leaves them out.
    monkeypatch.setattr(receiver_module, "_receiver", receiver())
    for label in ("unsigned batch", "verification GET", "other method"):
        event = copy.deepcopy(invocations()[label].event)
        event.update(pathParameters=None, stageVariables=None)
        event["requestContext"].update(authentication=None, authorizer=None)
        assert receiver_module.handler(event, None) == invocations()[label].result, label


# --- what the handler and the stand-in read -------------------------------------------------------


@pytest.mark.parametrize("reader", sorted(READS_CHECKS))
def test_every_listed_read_is_a_field_of_the_published_type(type_checked: dict[str, list[str]], reader: str) -> None:
    assert type_checked[READS_CHECKS[reader].name] == []


def handler_reads(event: dict[str, Any], rename: str = "") -> set[str]:
    seen: set[str] = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(receiver_module, "_receiver", receiver())
        # A misread field may make the handler give up: what it read until then is what counts.
        with contextlib.suppress(Exception):
            receiver_module.handler(Reads(copy.deepcopy(event), "", seen, rename), None)
    return seen


def test_the_handler_reads_only_the_listed_fields() -> None:
    read = set().union(*(handler_reads(i.event) for i in invocations().values()))
    assert read == HANDLER_READS, f"the handler reads {sorted(read - HANDLER_READS)} beyond HANDLER_READS"
    assert unlisted_keys(keys_in_source(receiver_module.handler), HANDLER_READS) == []


def test_a_field_the_handler_reads_under_another_name_is_caught() -> None:
    event = invocations()["signed JSON batch"].event
    for path in sorted(HANDLER_READS):
        assert f"{path}Renamed" in handler_reads(event, rename=path) - HANDLER_READS, path


def test_the_stand_in_reads_only_the_listed_fields_of_a_result() -> None:
    seen: set[str] = set()
    for invocation in invocations().values():
        http_response(Reads(invocation.result, "", seen))
    assert seen == STAND_IN_READS
    assert unlisted_keys(keys_in_source(http_response), STAND_IN_READS) == []

"""The one Vercel REST API stand-in: rollback and rollout tests and the benchmarks all use it.

It serves, on 127.0.0.1 only, the operations of Vercel's official SDK (``@vercel/sdk``, pinned in
``tests/contracts/node/package-lock.json``, generated from Vercel's OpenAPI document) that the client uses,
at the SDK's paths and API versions:

- ``GET  /v7/deployments``                          ``getDeployments``
- ``GET  /v13/deployments/{idOrUrl}``               ``getDeployment``
- ``GET  /v9/projects/{idOrName}``                  ``getProject``
- ``POST /v1/projects/{projectId}/rollback/{deploymentId}``  ``requestRollback`` (201, no body; the
  description is a query parameter)
- ``GET  /v1/projects/{idOrName}/rolling-release``  ``getRollingRelease``; ``start``, ``approve-stage`` and
  ``complete`` (``startRollingRelease`` ...) answer with the same document

It cannot serve an undocumented field: every answer passes through ``_served``, which refuses any field
path not in ``SERVED_FIELDS`` (the request then gets a 500 and the test fails on ``problems``), and
``tests/contracts/test_vercel_contract.py`` proves every path in ``SERVED_FIELDS`` is a field of the
operation's response schema in the pinned SDK. Beyond that, every exchange a test makes is checked against
the SDK's schemas when the test ends (``contract_problems``): the request is one of the SDK's operations
with its query names and body, and a 2xx answer parses strictly with the response schema.

A deployment is a rollback candidate (``isRollbackCandidate``, the ``rollbackCandidate`` filter) when it is
READY, targeted at production and was once aliased to production, the only deployments instant rollback
goes back to (https://vercel.com/docs/instant-rollback, "Eligible deployments"); ``requestRollback`` to any
other is refused with 422. A rolling release's canary is not aliased to production until the release
completes, so an aborted canary is READY and production but no candidate.

Errors use ``{"error": {"code", "message"}}`` (Vercel's REST API reference, "Errors"); a wrong token gets
403. Tests arrange projects, deployments and rolling releases, inject failures for the next N matching
requests (optionally after handling them for real, as when a response is lost), make rolling-release reads
lag behind writes (``stale_reads``), and read every exchange back.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-token-not-a-secret-4711"
# Epoch milliseconds, as every time in Vercel's schema is.
_CREATED_MS = 1_764_756_000_000

_DEPLOYMENT_LIST_ITEM = frozenset(
    {
        "uid",
        "name",
        "projectId",
        "url",
        "created",
        "createdAt",
        "state",
        "readyState",
        "target",
        "creator",
        "creator.uid",
        "type",
        "inspectorUrl",
        "isRollbackCandidate",
    }
)
_ROLLING_RELEASE = frozenset(
    {"rollingRelease"}
    | {
        f"rollingRelease.{name}"
        for name in (
            "state",
            "substate",
            "advancementType",
            "canaryDeployment",
            "currentDeployment",
            "queuedDeploymentId",
            "activeStage",
            "nextStage",
            "stages",
            "startedAt",
            "updatedAt",
        )
    }
    | {
        f"rollingRelease.{part}.{name}"
        for part in ("canaryDeployment", "currentDeployment")
        for name in ("id", "name", "url", "readyState", "readyStateAt", "source", "target", "createdAt")
    }
    | {
        f"rollingRelease.{part}.{name}"
        for part in ("activeStage", "nextStage", "stages[]")
        for name in ("index", "isFinalStage", "targetPercentage", "requireApproval", "duration")
    }
)
# Every field path the stand-in may serve, per SDK operation (``[]``: each item; ``*``: any key of a map).
SERVED_FIELDS: dict[str, frozenset[str]] = {
    "getDeployments": frozenset(
        {"deployments", "pagination", "pagination.count", "pagination.next", "pagination.prev"}
        | {f"deployments[].{name}" for name in _DEPLOYMENT_LIST_ITEM}
    ),
    "getDeployment": frozenset(
        {
            "id",
            "name",
            "url",
            "createdAt",
            "readyState",
            "target",
            "aliasAssigned",
            "bootedAt",
            "buildingAt",
            "buildSkipped",
            "creator",
            "creator.uid",
            "meta",
            "public",
            "regions",
            "status",
            "type",
            "version",
        }
    ),
    "getProject": frozenset(
        {
            "id",
            "name",
            "accountId",
            "alias",
            "directoryListing",
            "nodeVersion",
            "lastRollbackTarget",
            "defaultResourceConfig",
            "defaultResourceConfig.functionDefaultRegions",
            "resourceConfig",
            "resourceConfig.functionDefaultRegions",
            "deploymentExpiration",
            "targets",
            "targets.*",
            "lastAliasRequest",
        }
        | {
            f"targets.*.{name}"
            for name in (
                "id",
                "url",
                "name",
                "createdAt",
                "createdIn",
                "readyState",
                "alias",
                "creator",
                "creator.uid",
                "creator.email",
                "creator.username",
                "deploymentHostname",
                "plan",
                "private",
                "type",
            )
        }
        | {
            f"lastAliasRequest.{name}"
            for name in ("fromDeploymentId", "toDeploymentId", "jobStatus", "requestedAt", "type")
        }
    ),
    "requestRollback": frozenset(),
    "getRollingRelease": _ROLLING_RELEASE,
    "startRollingRelease": _ROLLING_RELEASE,
    "approveRollingReleaseStage": _ROLLING_RELEASE,
    "completeRollingRelease": _ROLLING_RELEASE,
}


class UndocumentedField(Exception):
    """The stand-in was about to serve a field that ``SERVED_FIELDS`` (and so Vercel's schema) lacks."""


def field_paths(value: Any, path: str = "", maps: Iterable[str] = ()) -> set[str]:
    """Every field path in ``value``: ``a.b``, ``a.list[].c``; under a path in ``maps`` each key is ``*``."""
    maps = tuple(maps)
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = "*" if path in maps else key
            child = f"{path}.{name}" if path else name
            found.add(child)
            found |= field_paths(item, child, maps)
    elif isinstance(value, list):
        for item in value:
            found |= field_paths(item, f"{path}[]", maps)
    return found


_MAPS = {"getProject": ("targets",)}


def _served(operation: str, body: Any) -> Any:
    """``body`` when every field in it is one the stand-in may serve for ``operation``; else raise."""
    extra = sorted(field_paths(body, maps=_MAPS.get(operation, ())) - SERVED_FIELDS[operation])
    if extra:
        raise UndocumentedField(f"the stand-in's {operation} answer has fields Vercel's schema lacks: {extra}")
    return body


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    body: Any
    headers: dict[str, str]
    passthrough: bool  # handle the request for real, then answer with the failure anyway


@dataclass
class Exchange:
    """One request the client made and what the stand-in answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # the JSON request body, None when there was none
    at: float  # the stand-in's clock when the request arrived
    status: int = 0
    response: Any = None
    operation: str | None = None  # the SDK operation the stand-in served it as


@dataclass
class RollingRelease:
    """A project's rolling release of ``canary`` over ``stable`` through ``stages`` (canary percentages)."""

    canary: str
    stable: str
    stages: tuple[int, ...] = (5, 25, 50, 100)
    state: str | None = "ACTIVE"  # None: the project has no rolling release at all
    active_stage_index: int = 0
    stale_reads: int = 0  # reads after each write that still show the state before it
    shown: dict[str, Any] | None = None
    lag: int = 0

    @property
    def percentage(self) -> int:
        """The canary's share of production traffic now."""
        if self.state == "COMPLETE":
            return 100
        if self.state != "ACTIVE":
            return 0
        return self.stages[self.active_stage_index]


class FakeVercel:
    """One fake Vercel account: projects, deployments, rolling releases, and every exchange with it."""

    def __init__(self, token: str = TOKEN, clock: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self.clock = clock
        self.url = ""
        self.projects: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.releases: dict[str, RollingRelease] = {}
        self.failures: list[Failure] = []
        self.requests: list[Exchange] = []
        self.problems: list[str] = []  # undocumented fields the stand-in refused to serve
        # How many project reads report the rollback job "pending" before it reaches ``final_job_status``.
        self.pending_polls = 1
        self.final_job_status = "succeeded"
        self.lock = threading.Lock()

    # --- arranging -------------------------------------------------------------------------------

    def add_project(self, project_id: str, name: str, team_id: str | None = None) -> None:
        self.projects[project_id] = {
            "id": project_id,
            "name": name,
            "team": team_id,
            "production": None,
            "lastAliasRequest": None,
            "polls_left": 0,
        }

    def add_deployment(
        self,
        uid: str,
        project_id: str,
        created: int,
        url: str,
        state: str = "READY",
        target: str | None = "production",
        production: bool = False,
        aliased_to_production: bool = True,
    ) -> None:
        """``aliased_to_production``: whether production's domains ever pointed at it. True by default: without
        a rolling release every READY production deployment is promoted to the domains (a canary is not)."""
        self.deployments[uid] = {
            "uid": uid,
            "name": self.projects[project_id]["name"],
            "projectId": project_id,
            "url": url,
            "created": created,
            "state": state,
            "target": target,
            "aliased": aliased_to_production or production,
        }
        if production:
            self.projects[project_id]["production"] = uid

    def add_rolling_release(self, project_id: str, canary: str, **state: Any) -> RollingRelease:
        """A rolling release of ``canary`` over the project's production deployment."""
        release = RollingRelease(canary=canary, stable=self.projects[project_id]["production"], **state)
        self.releases[project_id] = release
        self._alias(canary, release.state == "COMPLETE")
        return release

    def _alias(self, uid: str, aliased: bool) -> None:
        if uid in self.deployments:
            self.deployments[uid]["aliased"] = aliased

    @staticmethod
    def is_rollback_candidate(d: dict[str, Any]) -> bool:
        return d["state"] == "READY" and d["target"] == "production" and d["aliased"]

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        passthrough: bool = False,
    ) -> None:
        """Answer the next ``times`` requests matching method and path with ``status``."""
        code = {401: "unauthorized", 403: "forbidden", 409: "conflict", 422: "unprocessable_entity"}
        default = {"error": {"code": code.get(status, "internal_server_error"), "message": f"injected {status}"}}
        self.failures.append(
            Failure(
                method,
                re.compile(path_regex),
                status,
                times,
                default if body is None else body,
                headers or {},
                passthrough,
            )
        )

    # --- reading back ----------------------------------------------------------------------------

    def calls(self, method: str, path_regex: str) -> list[Exchange]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def posts(self, suffix: str) -> list[Exchange]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(suffix)]

    @property
    def rollback_posts(self) -> list[Exchange]:
        return self.calls("POST", r"^/v1/projects/[^/]+/rollback/")

    # --- request handling ------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, auth: str | None, body: Any) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        record = Exchange(method, parts.path, query, body, self.clock())
        with self.lock:
            self.requests.append(record)
            try:
                status, payload, headers = self._route(method, parts.path, query, auth, body, record)
            except UndocumentedField as refused:
                self.problems.append(str(refused))
                status, payload, headers = 500, {"error": {"code": "stand_in", "message": str(refused)}}, {}
            record.status, record.response = status, payload
        return status, payload, headers

    def _route(
        self, method: str, path: str, query: dict[str, str], auth: str | None, body: Any, record: Exchange
    ) -> tuple[int, Any, dict[str, str]]:
        if auth != f"Bearer {self.token}":
            return 403, {"error": {"code": "forbidden", "message": "Not authorized"}}, {}
        for failure in self.failures:
            if failure.times > 0 and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.passthrough:
                    self._route_ok(method, path, query, body, record)
                return failure.status, failure.body, failure.headers
        return self._route_ok(method, path, query, body, record)

    def _route_ok(
        self, method: str, path: str, query: dict[str, str], body: Any, record: Exchange
    ) -> tuple[int, Any, dict[str, str]]:
        routes: list[tuple[str, str, str, Callable[..., tuple[int, Any, dict[str, str]]]]] = [
            ("GET", r"/v7/deployments", "getDeployments", self._list_deployments),
            ("GET", r"/v13/deployments/([^/]+)", "getDeployment", self._get_deployment),
            ("GET", r"/v9/projects/([^/]+)", "getProject", self._get_project),
            ("POST", r"/v1/projects/([^/]+)/rollback/([^/]+)", "requestRollback", self._rollback),
            ("GET", r"/v1/projects/([^/]+)/rolling-release", "getRollingRelease", self._get_release),
            ("POST", r"/v1/projects/([^/]+)/rolling-release/start", "startRollingRelease", self._start),
            (
                "POST",
                r"/v1/projects/([^/]+)/rolling-release/approve-stage",
                "approveRollingReleaseStage",
                self._approve,
            ),
            ("POST", r"/v1/projects/([^/]+)/rolling-release/complete", "completeRollingRelease", self._complete),
        ]
        for verb, pattern, operation, handler in routes:
            if method == verb and (m := re.fullmatch(pattern, path)):
                record.operation = operation
                status, payload, headers = handler(*m.groups(), query=query, body=body or {})
                if 200 <= status < 300:
                    _served(operation, payload)
                return status, payload, headers
        return self._error(404, "not_found", f"{method} {path} is not an endpoint")

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[int, Any, dict[str, str]]:
        return status, {"error": {"code": code, "message": message}}, {}

    def _project(self, id_or_name: str, query: dict[str, str]) -> dict[str, Any] | None:
        for project in self.projects.values():
            if id_or_name in (project["id"], project["name"]):
                if project["team"] and query.get("teamId") != project["team"]:
                    return None
                return project
        return None

    # --- deployments and projects ----------------------------------------------------------------

    def _list_deployments(self, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        project = self._project(query.get("projectId", ""), query)
        if project is None:
            return self._error(404, "not_found", "Could not find the project")
        found = [
            d
            for d in self.deployments.values()
            if d["projectId"] == project["id"]
            and ("target" not in query or d["target"] == query["target"])
            and ("state" not in query or d["state"] in query["state"].split(","))
            and ("until" not in query or d["created"] < int(query["until"]))
            and (
                "rollbackCandidate" not in query
                or self.is_rollback_candidate(d) == (query["rollbackCandidate"] == "true")
            )
        ]
        found.sort(key=lambda d: d["created"], reverse=True)
        limit = int(query.get("limit", 20))
        page = found[:limit]
        more = len(found) > limit
        items = [
            {
                "uid": d["uid"],
                "name": d["name"],
                "projectId": d["projectId"],
                "url": d["url"],
                "created": d["created"],
                "createdAt": d["created"],
                "state": d["state"],
                "readyState": d["state"],
                "target": d["target"],
                "type": "LAMBDAS",
                "creator": {"uid": "user_chef"},
                "inspectorUrl": None,
                "isRollbackCandidate": self.is_rollback_candidate(d),
            }
            for d in page
        ]
        pagination = {"count": len(page), "next": page[-1]["created"] if more else None, "prev": None}
        return 200, {"deployments": items, "pagination": pagination}, {}

    def _deployment_document(self, uid: str) -> dict[str, Any]:
        d = self.deployments[uid]
        return {
            "id": d["uid"],
            "name": d["name"],
            "url": d["url"],
            "createdAt": d["created"],
            "readyState": d["state"],
            "target": d["target"],
            "aliasAssigned": d["state"] == "READY",
            "bootedAt": d["created"],
            "buildingAt": d["created"],
            "buildSkipped": False,
            "creator": {"uid": "user_chef"},
            "meta": {},
            "public": False,
            "regions": ["iad1"],
            "status": d["state"],
            "type": "LAMBDAS",
            "version": 2,
        }

    def _get_deployment(self, id_or_url: str, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        for d in self.deployments.values():
            if id_or_url in (d["uid"], d["url"]):
                return 200, self._deployment_document(d["uid"]), {}
        return self._error(404, "not_found", f"Could not find the deployment: {id_or_url}")

    def _get_project(self, id_or_name: str, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        project = self._project(id_or_name, query)
        if project is None:
            return self._error(404, "not_found", f"Could not find the project: {id_or_name}")
        last = project["lastAliasRequest"]
        if last and last["jobStatus"] == "pending":
            if project["polls_left"] > 0:
                project["polls_left"] -= 1
            else:
                last["jobStatus"] = self.final_job_status
                if self.final_job_status == "succeeded":
                    project["production"] = last["toDeploymentId"]
        production = self.deployments.get(project["production"] or "")
        targets = {}
        if production:
            targets["production"] = {
                "id": production["uid"],
                "url": production["url"],
                "name": production["name"],
                "createdAt": production["created"],
                "createdIn": "iad1",
                "readyState": production["state"],
                "alias": ["chefchatz.com"],
                "creator": {"uid": "user_chef", "email": "ops@chefchatz.com", "username": "chef"},
                "deploymentHostname": production["url"],
                "plan": "pro",
                "private": True,
                "type": "LAMBDAS",
            }
        document = {
            "id": project["id"],
            "name": project["name"],
            "accountId": project["team"] or "user_chef",
            "alias": [],
            "directoryListing": False,
            "nodeVersion": "22.x",
            "defaultResourceConfig": {"functionDefaultRegions": ["iad1"]},
            "resourceConfig": {"functionDefaultRegions": ["iad1"]},
            "deploymentExpiration": {},
            "targets": targets,
            "lastRollbackTarget": None,
        }
        if last:
            document["lastAliasRequest"] = dict(last)
        return 200, document, {}

    def _rollback(
        self, project_id: str, deployment_id: str, *, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        project = self._project(project_id, query)
        if project is None:
            return self._error(404, "not_found", f"Could not find the project: {project_id}")
        d = self.deployments.get(deployment_id)
        if d is None or d["projectId"] != project["id"]:
            return self._error(404, "not_found", f"Could not find the deployment: {deployment_id}")
        release = self.releases.get(project["id"])
        if release is not None and release.state == "ACTIVE" and deployment_id == release.stable:
            # What `vercel rolling-release abort` sends: a rollback to the current deployment aborts it.
            self._before_write(release)
            release.state = "ABORTED"
            return 201, None, {}
        last = project["lastAliasRequest"]
        if last and last["jobStatus"] in ("pending", "in-progress"):
            return self._error(409, "conflict", "A rollback is already in progress")
        if not self.is_rollback_candidate(d) or deployment_id == project["production"]:
            return self._error(422, "invalid_rollback_target", "Deployment is not eligible")
        project["lastAliasRequest"] = {
            "fromDeploymentId": project["production"],
            "toDeploymentId": deployment_id,
            "jobStatus": "pending",
            "requestedAt": int(time.time() * 1000),
            "type": "rollback",
        }
        project["polls_left"] = self.pending_polls
        project["rollbackDescription"] = query.get("description")
        return 201, None, {}

    # --- rolling releases ------------------------------------------------------------------------

    def _release_deployment(self, uid: str, project: dict[str, Any]) -> dict[str, Any]:
        d = self.deployments.get(uid) or {
            "uid": uid,
            "name": project["name"],
            "url": f"{uid}.vercel.app",
            "created": _CREATED_MS,
            "state": "READY",
            "target": "production",
        }
        return {
            "id": d["uid"],
            "name": d["name"],
            "url": d["url"],
            "readyState": d["state"],
            "readyStateAt": d["created"] + 60_000,
            "source": "cli",
            "target": d["target"],
            "createdAt": d["created"],
        }

    def _stage(self, release: RollingRelease, index: int) -> dict[str, Any] | None:
        if not 0 <= index < len(release.stages):
            return None
        return {
            "index": index,
            "isFinalStage": index == len(release.stages) - 1,
            "targetPercentage": release.stages[index],
            "requireApproval": True,  # advancementType manual-approval (components/web_app.py)
            "duration": None,
        }

    def release_document(self, project_id: str) -> dict[str, Any] | None:
        """The project's rolling release as Vercel documents it (``activeStage`` null once aborted)."""
        release, project = self.releases.get(project_id), self.projects[project_id]
        if release is None or release.state is None:
            return None
        i = release.active_stage_index
        return {
            "state": release.state,
            "substate": None,
            "advancementType": "manual-approval",
            "canaryDeployment": self._release_deployment(release.canary, project),
            "currentDeployment": self._release_deployment(release.stable, project),
            "queuedDeploymentId": None,
            "activeStage": None if release.state == "ABORTED" else self._stage(release, i),
            "nextStage": self._stage(release, i + 1) if release.state == "ACTIVE" else None,
            "stages": [self._stage(release, n) for n in range(len(release.stages))],
            "startedAt": _CREATED_MS,
            "updatedAt": _CREATED_MS,
        }

    def _before_write(self, release: RollingRelease) -> None:
        release.shown, release.lag = self._document_of(release), release.stale_reads

    def _document_of(self, release: RollingRelease) -> dict[str, Any] | None:
        project_id = next(p for p, r in self.releases.items() if r is release)
        return self.release_document(project_id)

    def _release(self, id_or_name: str, query: dict[str, str]) -> tuple[dict[str, Any] | None, RollingRelease]:
        project = self._project(id_or_name, query)
        if project is not None and project["id"] not in self.releases:
            self.releases[project["id"]] = RollingRelease(canary="", stable=project["production"], state=None)
        return project, self.releases[project["id"]] if project is not None else RollingRelease("", "", state=None)

    def _get_release(self, id_or_name: str, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        project, release = self._release(id_or_name, query)
        if project is None:
            return self._error(404, "not_found", f"Could not find the project: {id_or_name}")
        if release.lag > 0 and release.shown is not None:
            release.lag -= 1
            return 200, {"rollingRelease": release.shown}, {}
        return 200, {"rollingRelease": self.release_document(project["id"])}, {}

    def _start(self, id_or_name: str, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        project, release = self._release(id_or_name, query)
        if project is None:
            return self._error(404, "not_found", f"Could not find the project: {id_or_name}")
        wanted = body.get("canaryDeploymentId")
        if release.state == "ACTIVE" and wanted != release.canary:
            return self._error(400, "bad_request", f"a rolling release of {release.canary} is active")
        if release.state != "ACTIVE" or wanted != release.canary:
            self._before_write(release)
            release.canary, release.state, release.active_stage_index = str(wanted), "ACTIVE", 0
            self._alias(release.canary, False)
        return 200, {"rollingRelease": self.release_document(project["id"])}, {}

    def _approve(self, id_or_name: str, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return self._advance(id_or_name, query, body, complete=False)

    def _complete(self, id_or_name: str, *, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return self._advance(id_or_name, query, body, complete=True)

    def _advance(
        self, id_or_name: str, query: dict[str, str], body: Any, *, complete: bool
    ) -> tuple[int, Any, dict[str, str]]:
        project, release = self._release(id_or_name, query)
        if project is None:
            return self._error(404, "not_found", f"Could not find the project: {id_or_name}")
        if release.state != "ACTIVE":
            return self._error(400, "no_active_rolling_release", "There is no active rolling release")
        if body.get("canaryDeploymentId") != release.canary:
            return self._error(400, "bad_request", "canaryDeploymentId is not the active canary")
        if complete:
            self._before_write(release)
            release.state, release.active_stage_index = "COMPLETE", len(release.stages) - 1
            self._alias(release.canary, True)
            return 200, {"rollingRelease": self.release_document(project["id"])}, {}
        nxt = body.get("nextStageIndex")
        if nxt != release.active_stage_index + 1 or nxt >= len(release.stages):
            return self._error(400, "bad_request", f"nextStageIndex {nxt} is not the next stage")
        self._before_write(release)
        release.active_stage_index = nxt
        if nxt == len(release.stages) - 1:
            release.state = "COMPLETE"
            self._alias(release.canary, True)
        return 200, {"rollingRelease": self.release_document(project["id"])}, {}


# --- serving ---------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # The rollback guard opens 30+ connections at once each interval; socketserver's default listen
    # backlog of 5 drops the rest of the SYNs, and their retransmission a second later reads as a timeout.
    request_queue_size = 128


def serve(state: FakeVercel) -> ThreadingHTTPServer:
    """Serve ``state`` on 127.0.0.1 until ``server.shutdown()``; sets ``state.url``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One buffered write per response and no Nagle: headers and body leave in one segment.
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, payload, headers = state.handle(method, self.path, self.headers.get("Authorization"), body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


def start_vercel(
    token: str = TOKEN, clock: Callable[[], float] = time.monotonic
) -> tuple[FakeVercel, ThreadingHTTPServer]:
    """A new stand-in, serving on 127.0.0.1 until ``server.shutdown()`` (tests and benchmarks)."""
    state = FakeVercel(token, clock)
    return state, serve(state)


# --- the contract ----------------------------------------------------------------------------------

_verdicts: dict[str, tuple[str | None, tuple[str, ...]]] = {}


def contract_problems(exchanges: Iterable[Exchange]) -> list[str]:
    """What in these exchanges Vercel's published schemas (the pinned ``@vercel/sdk``) do not allow.

    For each request: it is one of the SDK's operations (method, versioned path), its query names are the
    operation's and its body parses with the operation's request schema. For each 2xx answer: it parses
    strictly with the operation's response schema and has no field the schema lacks. Error answers are
    not checked here: the SDK has no schema for them (``docs/contracts.md``).
    """
    from tests.contracts.schemas import schemas  # the node helper, started only when a test asks

    tool = schemas()
    problems: list[str] = []
    for exchange in exchanges:
        key = json.dumps(["request", exchange.method, exchange.path, sorted(exchange.query), exchange.body])
        if key not in _verdicts:
            verdict = tool.vercel_request(exchange.method, exchange.path, list(exchange.query), exchange.body)
            _verdicts[key] = (
                verdict.operation,
                verdict.problems + tuple(f"undocumented request field {name}" for name in verdict.undocumented),
            )
        operation, found = _verdicts[key]
        problems += [f"{exchange.method} {exchange.path}: {p}" for p in found]
        if operation is None or not 200 <= exchange.status < 300:
            continue
        key = json.dumps(["response", operation, exchange.status, exchange.response])
        if key not in _verdicts:
            verdict = tool.vercel_response(operation, exchange.status, exchange.response)
            _verdicts[key] = (
                operation,
                verdict.problems + tuple(f"undocumented response field {name}" for name in verdict.undocumented),
            )
        problems += [f"{exchange.method} {exchange.path} answered {exchange.status}: {p}" for p in _verdicts[key][1]]
    return sorted(set(problems))


def assert_contract(state: FakeVercel) -> None:
    """Fail the test when the stand-in refused a field or any exchange breaks Vercel's published schemas."""
    problems = state.problems + contract_problems(state.requests)
    assert not problems, "the exchanges with Vercel's stand-in break Vercel's published schema:\n" + "\n".join(problems)

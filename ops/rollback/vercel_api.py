"""A small typed client for the parts of the Vercel REST API that instant rollback needs.

Endpoints: the operations of Vercel's official SDK (``@vercel/sdk`` 1.28.35, generated from Vercel's OpenAPI
document; its name for each in brackets), at the SDK's paths and API versions, with only its query names.
``tests/contracts`` checks every request and every field read here against the pinned SDK's schemas.

- ``GET  /v7/deployments``  [getDeployments]         list deployments (``projectId``, ``target``, ``state``,
  ``rollbackCandidate``, ``limit``, ``until``)
  -> ``{"deployments": [{uid, url, created, state, target, isRollbackCandidate, ...}], "pagination": {...}}``.
  Instant rollback can only go back to a deployment that was once aliased to production
  (https://vercel.com/docs/instant-rollback, "Eligible deployments"): READY and targeted at production is not
  enough (a canary whose rolling release was aborted is both). The SDK documents the filter
  ``rollbackCandidate`` ("Filter deployments based on their rollback candidacy") and each listed deployment's
  ``isRollbackCandidate`` ("Deployment can be used for instant rollback"; optional, nullable):
  ``GetDeploymentsRequest`` and ``Deployments`` in ``esm/models/getdeploymentsop.d.ts``.
- ``GET  /v13/deployments/{idOrUrl}``  [getDeployment]  one deployment by id or hostname
  -> ``{id, url, createdAt, readyState, target, ...}``
- ``GET  /v9/projects/{idOrName}``  [getProject]      the project, including ``targets.production`` and
  ``lastAliasRequest`` ``{fromDeploymentId, toDeploymentId, jobStatus, requestedAt, type}``
- ``POST /v1/projects/{projectId}/rollback/{deploymentId}``  [requestRollback]  request an instant rollback;
  ``description`` is a query parameter and there is no body (201 on acceptance)
- ``GET  /v1/projects/{idOrName}/rolling-release``  the project's rolling release, active, aborted or complete
  -> ``{"rollingRelease": {state, canaryDeployment, currentDeployment, activeStage, nextStage, stages, ...} | null}``
  where each stage is ``{index, targetPercentage, isFinalStage, requireApproval, duration}``; the stage
  Vercel is at is ``activeStage`` (null once aborted), the one to approve next ``nextStage`` (null unless
  ACTIVE). There is no top-level stage index: the schema is ``GetRollingReleaseResponseBody`` of Vercel's
  SDK (``@vercel/sdk`` 1.28.35, ``esm/models/getrollingreleaseop.d.ts``), generated from Vercel's OpenAPI
  document; start, approve-stage and complete answer with the same document
  (https://vercel.com/docs/rest-api/rolling-release/get-the-active-rolling-release-information-for-a-project)
- ``POST /v1/projects/{idOrName}/rolling-release/start``  ``{canaryDeploymentId}``; for a canary already
  rolling out it returns the current state without side effects
  (https://vercel.com/docs/rest-api/rolling-release/start-a-rolling-release-for-the-project)
- ``POST /v1/projects/{idOrName}/rolling-release/approve-stage``  ``{nextStageIndex, canaryDeploymentId}``
  (https://vercel.com/docs/rest-api/rolling-release/update-the-active-rolling-release-to-the-next-stage-for-a-project)
- ``POST /v1/projects/{idOrName}/rolling-release/complete``  ``{canaryDeploymentId}``: the canary serves 100 %
  (https://vercel.com/docs/rest-api/rolling-release/complete-the-rolling-release-for-the-project)

Every call takes the optional ``teamId`` query parameter. Errors come back as
``{"error": {"code": ..., "message": ...}}``. Transient failures (429 honouring ``Retry-After``, 5xx,
connection errors and timeouts) are retried with tenacity; everything else raises a typed error whose
message says what to fix. The token is only ever placed in the ``Authorization`` header: it is never part
of a message, a ``repr`` or a log line.
"""

from __future__ import annotations

import email.utils
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

DEFAULT_API_URL = "https://api.vercel.com"
API_URL_ENV = "VERCEL_API_URL"
TOKEN_ENV = "VERCEL_TOKEN"  # noqa: S105 - the name of the variable, not a secret

# Why these defaults: five attempts with jittered exponential backoff ride out a short Vercel API blip
# (a few seconds) without stalling an incident response for minutes; a server asking for a longer
# Retry-After than MAX_RETRY_WAIT_S gets it capped so one 429 cannot park the guard indefinitely.
DEFAULT_ATTEMPTS = 5
MAX_RETRY_WAIT_S = 30.0


class VercelError(Exception):
    """Base class of everything this client raises."""


class VercelConfigError(VercelError):
    """The environment does not say how to reach the API (for example VERCEL_TOKEN is unset)."""


class VercelApiError(VercelError):
    """The API answered with an error status; ``status``/``code`` are Vercel's, ``hint`` says what to do."""

    hint = "see the Vercel REST API error reference"

    def __init__(self, status: int, code: str, message: str, method: str, path: str) -> None:
        self.status = status
        self.code = code
        self.api_message = message
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} failed with {status} {code}: {message} ({self.hint})")


class VercelUnauthorizedError(VercelApiError):
    hint = "the token in VERCEL_TOKEN was not accepted: check it is set, valid and not expired"


class VercelForbiddenError(VercelApiError):
    hint = (
        "the token is not allowed to do this: check it belongs to the team that owns the project "
        "(pass --team-id) and has access to the project"
    )


class VercelNotFoundError(VercelApiError):
    hint = "check the project id, deployment id/URL and --team-id"


class VercelConflictError(VercelApiError):
    hint = "another rollback or promotion is already in progress for this project; wait for it and re-check"


class VercelUnprocessableError(VercelApiError):
    hint = (
        "Vercel refused the request as invalid for this target: the deployment may not be eligible "
        "for instant rollback (plan limits, not a production deployment, or expired)"
    )


class VercelPaymentRequiredError(VercelApiError):
    hint = "the team's plan does not allow this rollback (Hobby can only roll back to the previous deployment)"


class VercelTransientError(VercelApiError):
    """429 or 5xx: retried; raised only once the attempts are used up."""

    hint = "the Vercel API kept failing after retries; try again shortly"

    def __init__(self, status: int, code: str, message: str, method: str, path: str, retry_after: float | None) -> None:
        self.retry_after = retry_after
        super().__init__(status, code, message, method, path)


_ERRORS_BY_STATUS: dict[int, type[VercelApiError]] = {
    401: VercelUnauthorizedError,
    402: VercelPaymentRequiredError,
    403: VercelForbiddenError,
    404: VercelNotFoundError,
    409: VercelConflictError,
    422: VercelUnprocessableError,
}


@dataclass(frozen=True)
class Deployment:
    """A deployment as the rollback logic sees it; ``created_ms`` is Vercel's epoch-milliseconds."""

    uid: str
    url: str
    created_ms: int
    state: str
    target: str | None
    # Vercel's ``isRollbackCandidate`` as a listing states it; None where the answer does not say (the field
    # is optional, and getDeployment's answer has no such field).
    rollback_candidate: bool | None = None


@dataclass(frozen=True)
class AliasRequest:
    """``lastAliasRequest`` of a project: the latest rollback or promotion and how far it got."""

    type: str  # "rollback" | "promote"
    job_status: str  # "pending" | "in-progress" | "succeeded" | "failed" | "skipped"
    from_deployment_id: str
    to_deployment_id: str
    requested_at_ms: int


@dataclass(frozen=True)
class ReleaseStage:
    """One stage of a rolling release as Vercel documents it: its zero-based index and canary share."""

    index: int
    target_percentage: int
    is_final: bool  # Vercel's ``isFinalStage``: the stage at 100 %


@dataclass(frozen=True)
class RollingRelease:
    """A project's rolling release (``rollingRelease`` of Vercel's response): canary vs current, and the stage.

    ``state`` is ACTIVE, COMPLETE or ABORTED. ``active_stage`` is where Vercel is (None once aborted),
    ``next_stage`` the stage an approval moves to (None unless ACTIVE); ``stages`` are all of them, in order.
    """

    state: str
    canary_deployment_id: str
    current_deployment_id: str | None
    active_stage: ReleaseStage | None
    next_stage: ReleaseStage | None
    stages: tuple[ReleaseStage, ...]

    @property
    def active_stage_index(self) -> int | None:
        return None if self.active_stage is None else self.active_stage.index

    @property
    def percentage(self) -> int | None:
        """The canary's share of production now, as Vercel reports it; None when there is no active stage."""
        return None if self.active_stage is None else self.active_stage.target_percentage

    def where(self) -> str:
        """Where the rollout stands, in Vercel's own terms, for messages: ``ACTIVE at stage 1 (25 %)``."""
        if self.active_stage is None:
            return f"{self.state} with no active stage"
        return f"{self.state} at stage {self.active_stage.index} ({self.active_stage.target_percentage} %)"


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    production_deployment_id: str | None
    last_alias_request: AliasRequest | None


@dataclass(frozen=True)
class DeploymentPage:
    deployments: tuple[Deployment, ...]
    next_until: int | None  # pass as ``until`` to fetch the next (older) page; None when there is none


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)


def _retry_wait(state: RetryCallState) -> float:
    """Honour the server's Retry-After when it sent one, else back off exponentially with jitter."""
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    if isinstance(error, VercelTransientError) and error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_WAIT_S)
    return float(_BACKOFF(state))


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        payload = response.json()
    except ValueError:
        return "unknown", response.text[:200] or response.reason_phrase
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", "unknown")), str(error.get("message", ""))
    return "unknown", response.reason_phrase


def _deployment_from_list_item(item: dict[str, Any]) -> Deployment:
    return Deployment(
        uid=str(item["uid"]),
        url=str(item.get("url", "")),
        created_ms=int(item.get("created") or 0),
        state=str(item.get("state") or item.get("readyState") or ""),
        target=item.get("target"),
        rollback_candidate=_optional_bool(item.get("isRollbackCandidate")),
    )


def _optional_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _alias_request(raw: Any) -> AliasRequest | None:
    if not isinstance(raw, dict) or not raw.get("toDeploymentId"):
        return None
    return AliasRequest(
        type=str(raw.get("type", "")),
        job_status=str(raw.get("jobStatus", "")),
        from_deployment_id=str(raw.get("fromDeploymentId", "")),
        to_deployment_id=str(raw["toDeploymentId"]),
        requested_at_ms=int(raw.get("requestedAt") or 0),
    )


def _field(raw: dict[str, Any], key: str, what: str) -> Any:
    """``raw[key]``, a field Vercel's schema requires; its absence means the answer is not what we can read."""
    if key not in raw:
        raise VercelError(
            f"Vercel's {what} has no {key!r}: the answer does not match Vercel's published schema "
            f"(fields present: {', '.join(sorted(raw)) or 'none'})"
        )
    return raw[key]


def _stage(raw: Any, what: str) -> ReleaseStage | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise VercelError(f"Vercel's {what} is {raw!r}, not a stage object")
    return ReleaseStage(
        index=int(_field(raw, "index", what)),
        target_percentage=int(_field(raw, "targetPercentage", what)),
        is_final=bool(_field(raw, "isFinalStage", what)),
    )


def _rolling_release(raw: Any) -> RollingRelease | None:
    """The documented rolling-release document, read by its documented fields only (see the module doc)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("canaryDeployment"), dict):
        return None
    current = raw.get("currentDeployment")
    stages = tuple(
        stage
        for stage in (_stage(item, "rolling-release stage") for item in _field(raw, "stages", "rolling release"))
        if stage is not None
    )
    return RollingRelease(
        state=str(_field(raw, "state", "rolling release")),
        canary_deployment_id=str(_field(raw["canaryDeployment"], "id", "rolling release's canaryDeployment")),
        current_deployment_id=current.get("id") if isinstance(current, dict) else None,
        active_stage=_stage(_field(raw, "activeStage", "rolling release"), "rolling release's activeStage"),
        next_stage=_stage(_field(raw, "nextStage", "rolling release"), "rolling release's nextStage"),
        stages=tuple(sorted(stages, key=lambda stage: stage.index)),
    )


class VercelClient:
    """Synchronous client; use as a context manager so the connection pool is closed."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        team_id: str | None = None,
        timeout_s: float = 10.0,
        attempts: int = DEFAULT_ATTEMPTS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise VercelConfigError(f"{TOKEN_ENV} is empty: set it to a Vercel access token")
        self.base_url = base_url.rstrip("/")
        self.team_id = team_id
        self.attempts = attempts
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    @classmethod
    def from_env(cls, team_id: str | None = None, **kwargs: Any) -> VercelClient:
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise VercelConfigError(f"{TOKEN_ENV} is not set: export a Vercel access token to use the API")
        return cls(token, base_url=os.environ.get(API_URL_ENV) or DEFAULT_API_URL, team_id=team_id, **kwargs)

    def __repr__(self) -> str:
        return f"VercelClient(base_url={self.base_url!r}, team_id={self.team_id!r}, token=<hidden>)"

    def __enter__(self) -> VercelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if self.team_id:
            query["teamId"] = self.team_id

        def once() -> Any:
            kwargs: dict[str, Any] = {"params": query}
            if body is not None:
                kwargs["json"] = body  # requestRollback takes no body at all: send one only when there is one
            response = self._http.request(method, path, **kwargs)
            if response.status_code == 429 or response.status_code >= 500:
                code, message = _error_body(response)
                raise VercelTransientError(
                    response.status_code,
                    code,
                    message,
                    method,
                    path,
                    parse_retry_after(response.headers.get("Retry-After")),
                )
            if response.status_code >= 400:
                code, message = _error_body(response)
                error_type = _ERRORS_BY_STATUS.get(response.status_code, VercelApiError)
                raise error_type(response.status_code, code, message, method, path)
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                return {}

        retrying = Retrying(
            retry=retry_if_exception_type((VercelTransientError, httpx.TransportError)),
            stop=stop_after_attempt(self.attempts),
            wait=_retry_wait,
            reraise=True,
        )
        try:
            return retrying(once)
        except httpx.TransportError as exc:
            raise VercelError(
                f"{method} {path}: cannot reach the Vercel API at {self.base_url} after "
                f"{self.attempts} attempts ({type(exc).__name__}: {exc})"
            ) from exc

    def list_rollback_candidates(self, project_id: str, *, limit: int = 20, until: int | None = None) -> DeploymentPage:
        """READY production deployments of the project that instant rollback can go back to (Vercel's
        ``rollbackCandidate`` filter), newest first (one page)."""
        payload = self._request(
            "GET",
            "/v7/deployments",
            {
                "projectId": project_id,
                "target": "production",
                "state": "READY",
                "rollbackCandidate": True,
                "limit": limit,
                "until": until,
            },
        )
        items = payload.get("deployments") or []
        deployments = tuple(_deployment_from_list_item(item) for item in items)
        next_until = (payload.get("pagination") or {}).get("next")
        return DeploymentPage(deployments, int(next_until) if next_until else None)

    def get_deployment(self, id_or_url: str) -> Deployment:
        """One deployment by id (``dpl_...``) or hostname (scheme and path are stripped)."""
        key = id_or_url.split("://", 1)[-1].split("/", 1)[0]
        payload = self._request("GET", f"/v13/deployments/{key}")
        return Deployment(
            uid=str(payload["id"]),
            url=str(payload.get("url", "")),
            created_ms=int(payload.get("createdAt") or 0),
            state=str(payload.get("readyState") or ""),
            target=payload.get("target"),
        )

    def get_project(self, project_id: str) -> Project:
        # getProject documents lastAliasRequest in its answer; Vercel's CLI also sends rollbackInfo=true,
        # which the published API does not have, so this client does not.
        payload = self._request("GET", f"/v9/projects/{project_id}")
        production = (payload.get("targets") or {}).get("production") or {}
        return Project(
            id=str(payload.get("id", project_id)),
            name=str(payload.get("name", "")),
            production_deployment_id=production.get("id"),
            last_alias_request=_alias_request(payload.get("lastAliasRequest")),
        )

    def request_rollback(self, project_id: str, deployment_id: str, description: str | None = None) -> None:
        """Ask Vercel to point all production domains of the project at ``deployment_id`` (201 = accepted)."""
        self._request(
            "POST",
            f"/v1/projects/{project_id}/rollback/{deployment_id}",
            {"description": description},
        )

    def get_rolling_release(self, project_id: str) -> RollingRelease | None:
        """The project's latest rolling release (active, aborted or complete), or None when there is none."""
        payload = self._request("GET", f"/v1/projects/{project_id}/rolling-release")
        return _rolling_release(payload.get("rollingRelease"))

    def start_rolling_release(self, project_id: str, canary_id: str) -> None:
        """Start the rolling release of ``canary_id`` (idempotent for a canary already rolling out)."""
        self._request(
            "POST", f"/v1/projects/{project_id}/rolling-release/start", body={"canaryDeploymentId": canary_id}
        )

    def approve_rolling_release_stage(self, project_id: str, canary_id: str, next_stage_index: int) -> None:
        """Move the active rolling release of ``canary_id`` to stage ``next_stage_index``."""
        self._request(
            "POST",
            f"/v1/projects/{project_id}/rolling-release/approve-stage",
            body={"nextStageIndex": next_stage_index, "canaryDeploymentId": canary_id},
        )

    def complete_rolling_release(self, project_id: str, canary_id: str) -> None:
        """Finish the rolling release of ``canary_id``: it serves 100 % of production traffic."""
        self._request(
            "POST",
            f"/v1/projects/{project_id}/rolling-release/complete",
            body={"canaryDeploymentId": canary_id},
        )

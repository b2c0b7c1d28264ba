"""Rules for GitHub Actions workflow files: plain validators over a workflow's text.

The policy pack wires these into CrossGuard policies for the workflow files the `Repository`
component commits to the app repository; the tests run them over every workflow of this repository
and every generated one. Each rule has a stable kebab-case id:

- ``workflow-yaml-invalid``: the file is not a YAML mapping GitHub could load (a parse error is a
  finding, never a crash);
- ``action-not-pinned``: a ``uses:`` that is not a full 40-character commit SHA (tags and branches
  can be moved by whoever controls the action; local ``./`` actions and ``docker://...@sha256:``
  digests are immutable and accepted);
- ``top-level-write-permissions``: no top-level ``permissions:`` (the token then gets the
  repository default, often read-write), ``write-all``, or any ``write`` scope granted to every job;
- ``production-deploy-without-environment``: a job that deploys to production (``pulumi up`` or
  ``destroy`` of a production stack - or of a stack it cannot read statically -, the Pulumi action
  with ``command: up`` on one, ``vercel deploy --prod``/``--target production``, ``vercel
  promote|rollback``) outside a production environment. Each ChefChatz environment has its own
  Vercel project, chosen by the job's GitHub environment, so ``vercel deploy --prod`` in a job bound
  to a non-production environment (a name without "prod": dev, staging) deploys that environment's
  project; without an environment, or in an approval-only one such as ``production-tech-lead``, it
  counts as production;
- ``untrusted-input-in-script``: attacker-controlled event data (pull-request title/body/branch,
  issue and comment text, commit messages, ...) interpolated into a ``run:`` script or a
  ``github-script`` body, where it becomes code; pass it through ``env:`` instead.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

RULE_YAML_INVALID = "workflow-yaml-invalid"
RULE_UNPINNED_ACTION = "action-not-pinned"
RULE_TOP_LEVEL_WRITE = "top-level-write-permissions"
RULE_PRODUCTION_ENVIRONMENT = "production-deploy-without-environment"
RULE_UNTRUSTED_INPUT = "untrusted-input-in-script"

RULES: tuple[str, ...] = (
    RULE_YAML_INVALID,
    RULE_UNPINNED_ACTION,
    RULE_TOP_LEVEL_WRITE,
    RULE_PRODUCTION_ENVIRONMENT,
    RULE_UNTRUSTED_INPUT,
)


@dataclass(frozen=True)
class WorkflowViolation:
    """One finding: which rule, in which file, job and step, and a message naming them."""

    rule: str
    path: str
    message: str
    job: str | None = None
    step: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}"


def workflow_violations(
    path: str, text: str, *, production_environments: tuple[str, ...] = ("production",)
) -> list[WorkflowViolation]:
    """Every rule's findings for one workflow file, in file order.

    >>> text = "on: push\\npermissions: {}\\njobs: {t: {runs-on: ubuntu-latest, steps: [{run: make}]}}"
    >>> workflow_violations("ci.yml", text)
    []
    >>> [v.rule for v in workflow_violations("ci.yml", "on: [push\\n")]
    ['workflow-yaml-invalid']
    """
    try:
        loader = _WorkflowLoader(text)
        try:
            node = loader.get_single_node()
            # GitHub reads anchors and aliases; a few hundred bytes of nested aliases still expand to
            # millions of nodes, which no rule may walk. The graph is measured before it is built.
            size = _expanded_size(node) if node is not None else 0
            if size > MAX_EXPANDED_NODES:
                return [
                    WorkflowViolation(
                        RULE_YAML_INVALID,
                        path,
                        f"its aliases expand to more than {MAX_EXPANDED_NODES} YAML nodes; write the values out",
                    )
                ]
            document = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        return [WorkflowViolation(RULE_YAML_INVALID, path, f"YAML does not parse: {_yaml_error(error)}")]
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        return [WorkflowViolation(RULE_YAML_INVALID, path, f"a workflow must be a YAML mapping, got {kind}")]
    jobs = document.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return [WorkflowViolation(RULE_YAML_INVALID, path, "a workflow needs a non-empty `jobs:` mapping")]

    found: list[WorkflowViolation] = []
    found.extend(_top_level_permissions(path, document))
    workflow_env = _string_mapping(document.get("env"))
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            found.append(WorkflowViolation(RULE_YAML_INVALID, path, f"job '{job_id}' is not a mapping", str(job_id)))
            continue
        context = _Job(path, str(job_id), job, workflow_env)
        found.extend(_unpinned_actions(context))
        found.extend(_untrusted_input(context))
        found.extend(_production_deploys(context, production_environments))
    return found


# --- YAML loading -------------------------------------------------------------------------------


# A workflow of this project has a few thousand nodes; ten times GitHub's largest real workflows.
MAX_EXPANDED_NODES = 200_000


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes `root` has once every alias is expanded (more than the limit for a cycle),
    counted over the shared node graph without expanding it."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_EXPANDED_NODES + 1)
            continue
        if id(node) in open_nodes:
            return MAX_EXPANDED_NODES + 1  # an alias of its own ancestor: endless
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                return MAX_EXPANDED_NODES + 1
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


# libyaml's parser when PyYAML was built with it (the wheels are): the same documents, several times faster.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _WorkflowLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader with GitHub's reading of YAML: `on:` is a key, not a boolean; duplicate keys fail."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads on/off/yes/no as booleans; GitHub (YAML 1.2 core) reads only true/false.
_WorkflowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _yaml_error(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)


# --- the job model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    index: int
    label: str
    body: Mapping[str, Any]


class _Job:
    def __init__(self, path: str, job_id: str, body: Mapping[str, Any], workflow_env: Mapping[str, str]) -> None:
        self.path = path
        self.id = job_id
        self.body = body
        self.env = {**workflow_env, **_string_mapping(body.get("env"))}
        raw_steps = body.get("steps")
        steps = raw_steps if isinstance(raw_steps, list) else []
        self.steps = [
            _Step(i, _step_label(i, step), step) for i, step in enumerate(steps, start=1) if isinstance(step, dict)
        ]

    def violation(self, rule: str, message: str, step: _Step | None = None) -> WorkflowViolation:
        where = f"job '{self.id}'" + (f", step {step.label}" if step else "")
        return WorkflowViolation(rule, self.path, f"{where}: {message}", self.id, step.label if step else None)


def _step_label(index: int, step: Mapping[str, Any]) -> str:
    for key in ("name", "id", "uses"):
        value = step.get(key)
        if isinstance(value, str) and value.strip():
            return f"{index} '{value.strip()}'"
    run = step.get("run")
    if isinstance(run, str) and run.strip():
        first = run.strip().splitlines()[0]
        return f"{index} '{first[:60]}'"
    return str(index)


def _string_mapping(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float | bool)}


# --- rule: top-level permissions ----------------------------------------------------------------


def _top_level_permissions(path: str, document: Mapping[str, Any]) -> list[WorkflowViolation]:
    if "permissions" not in document:
        return [
            WorkflowViolation(
                RULE_TOP_LEVEL_WRITE,
                path,
                "no top-level `permissions:`; every job then gets the repository's default token, which "
                "may be read-write. Declare `permissions: {}` (or `contents: read`) and grant writes per job",
            )
        ]
    permissions = document["permissions"]
    if permissions == "read-all" or permissions == {}:
        return []
    if permissions == "write-all":
        return [
            WorkflowViolation(
                RULE_TOP_LEVEL_WRITE,
                path,
                "top-level `permissions: write-all` gives every job every write scope",
            )
        ]
    if not isinstance(permissions, dict):
        return [
            WorkflowViolation(
                RULE_TOP_LEVEL_WRITE,
                path,
                f"top-level `permissions: {permissions!r}` is not read-all, {{}} or a scope mapping",
            )
        ]
    writes = sorted(str(scope) for scope, level in permissions.items() if str(level) == "write")
    if not writes:
        return []
    return [
        WorkflowViolation(
            RULE_TOP_LEVEL_WRITE,
            path,
            f"top-level permissions grant write to every job ({', '.join(writes)}); "
            "grant them on the job that needs them",
        )
    ]


# --- rule: pinned actions -----------------------------------------------------------------------

_FULL_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_DOCKER_DIGEST = re.compile(r"^docker://[^\s@]+@sha256:[0-9a-fA-F]{64}$")


def unpinned_reason(uses: str) -> str | None:
    """Why a `uses:` reference is not immutable, or None when it is.

    >>> unpinned_reason("actions/checkout@v4")
    "ref 'v4' is a tag or branch, not a full 40-character commit SHA"
    >>> unpinned_reason("./.github/actions/setup") is None
    True
    """
    if uses.startswith("./"):
        return None
    if "${{" in uses:
        return "the reference is an expression; it cannot be reviewed or pinned"
    if uses.startswith("docker://"):
        return None if _DOCKER_DIGEST.match(uses) else "docker image is not pinned by an @sha256: digest"
    name, sep, ref = uses.rpartition("@")
    if not sep or not name:
        return "no @ref at all (it follows the default branch)"
    if not _FULL_SHA.match(ref):
        return f"ref '{ref}' is a tag or branch, not a full 40-character commit SHA"
    return None


def _unpinned_actions(job: _Job) -> Iterator[WorkflowViolation]:
    job_uses = job.body.get("uses")
    if job_uses is not None:
        reason = unpinned_reason(str(job_uses))
        if reason:
            yield job.violation(RULE_UNPINNED_ACTION, f"reusable workflow `{job_uses}` is not pinned: {reason}")
    for step in job.steps:
        uses = step.body.get("uses")
        if uses is None:
            continue
        reason = unpinned_reason(str(uses))
        if reason:
            yield job.violation(RULE_UNPINNED_ACTION, f"action `{uses}` is not pinned: {reason}", step)


# --- rule: untrusted input in scripts -----------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# Fields of the event payload that whoever opens the pull request, issue or comment (or pushes the
# branch) chooses freely. Following GitHub Security Lab's list of untrusted inputs.
_UNTRUSTED = re.compile(
    r"""\bgithub\.(?:
        head_ref\b
      | event\.(?:
            pull_request\.(?:title|body|head\.(?:ref|label|repo\.default_branch))\b
          | pull_request(?![\w.])
          | issue(?:\.|(?![\w.]))
          | comment\.body\b
          | review\.body\b
          | review_comment\.body\b
          | discussion\.(?:title|body)\b
          | pages\.\*\.page_name\b
          | commits(?:\.\*)?\.(?:message|author\.(?:email|name))\b
          | commits(?![\w.])
          | head_commit\.(?:message|author\.(?:email|name))\b
          | head_commit(?![\w.])
          | workflow_run\.(?:head_branch|display_title|head_commit\.(?:message|author\.(?:email|name)))\b
          | workflow_run\.pull_requests\.\*\.head\.ref\b
          | release\.(?:name|body)\b
        )
      | event(?![\w.])
    )""",
    re.VERBOSE,
)


def _normalise_expression(expression: str) -> str:
    text = re.sub(r"\[\s*'([^']*)'\s*\]", r".\1", expression)
    text = re.sub(r'\[\s*"([^"]*)"\s*\]', r".\1", text)
    text = re.sub(r"\[\s*\d+\s*\]", ".*", text)
    text = re.sub(r"\[\s*\*\s*\]", ".*", text)
    return re.sub(r"\s+", "", text)


def untrusted_references(script: str) -> list[str]:
    """The `${{ ... }}` expressions in a script that carry attacker-controlled event data.

    >>> untrusted_references('echo "${{ github.event.pull_request.title }}"')
    ['github.event.pull_request.title']
    >>> untrusted_references('echo "${{ github.event.pull_request.number }}"')
    []
    """
    found: list[str] = []
    for match in _EXPRESSION.finditer(script):
        expression = _normalise_expression(match.group(1))
        if _UNTRUSTED.search(expression) and expression not in found:
            found.append(expression)
    return found


def _scripts(step: _Step) -> Iterator[tuple[str, str]]:
    run = step.body.get("run")
    if isinstance(run, str):
        yield "run", run
    uses = step.body.get("uses")
    with_ = step.body.get("with")
    if isinstance(uses, str) and uses.split("@")[0] == "actions/github-script" and isinstance(with_, dict):
        script = with_.get("script")
        if isinstance(script, str):
            yield "github-script `script`", script


def _untrusted_input(job: _Job) -> Iterator[WorkflowViolation]:
    for step in job.steps:
        for where, script in _scripts(step):
            for reference in untrusted_references(script):
                yield job.violation(
                    RULE_UNTRUSTED_INPUT,
                    f"`${{{{ {reference} }}}}` is interpolated into the {where} (script injection); "
                    "pass it through `env:` and quote the variable",
                    step,
                )


# --- rule: production deploys need the production environment ----------------------------------

_PRODUCTION_NAME = re.compile(r"prod", re.IGNORECASE)
_PRODUCTION_STACKS = frozenset({"prod", "production"})
_VERCEL_SUBCOMMANDS = frozenset(
    {
        "alias", "bisect", "build", "certs", "deploy", "dev", "dns", "domains", "env", "git", "help",
        "init", "inspect", "integration", "link", "list", "login", "logout", "logs", "ls", "project",
        "projects", "promote", "pull", "redeploy", "remove", "rm", "rollback", "secrets", "switch",
        "target", "teams", "telemetry", "whoami",
    }
)  # fmt: skip
_PULUMI_DEPLOYS = frozenset({"up", "update", "destroy"})
_UNKNOWN = "<unresolved>"


@dataclass(frozen=True)
class _Deploy:
    step: _Step
    # "vercel": a Vercel production deployment of the project the job's credentials select;
    # "pulumi": an update of a Pulumi stack that is (or may be) production.
    kind: str
    what: str


def _production_deploys(job: _Job, production_environments: tuple[str, ...]) -> Iterator[WorkflowViolation]:
    reported: set[tuple[int, str]] = set()
    for values in _matrix_combinations(job.body.get("strategy")):
        environment = _environment_name(job, values)
        for deploy in _deploys(job, values, production_environments):
            if environment in production_environments:
                continue
            if deploy.kind == "vercel" and _is_scoped_non_production(environment):
                # The job's GitHub environment supplies the Vercel project, so `--prod` deploys
                # that environment's own project (e.g. dev.chefchatz.com), not production.
                continue
            key = (deploy.step.index, deploy.what)
            if key in reported:
                continue
            reported.add(key)
            bound = "no environment" if environment is None else f"environment '{environment}'"
            wanted = " or ".join(f"'{name}'" for name in production_environments)
            yield job.violation(
                RULE_PRODUCTION_ENVIRONMENT,
                f"{deploy.what} deploys to production but the job runs with {bound}; "
                f"it needs `environment: {production_environments[0]}` ({wanted}) so the approvals gate it",
                deploy.step,
            )


def _is_scoped_non_production(environment: str | None) -> bool:
    return environment is not None and environment != _UNKNOWN and not _PRODUCTION_NAME.search(environment)


def _environment_name(job: _Job, values: Mapping[str, str]) -> str | None:
    environment = job.body.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    if environment is None:
        return None
    name = _substitute(str(environment), values, job.env).strip()
    return _UNKNOWN if "${{" in name else name


def _deploys(job: _Job, values: Mapping[str, str], production_environments: tuple[str, ...]) -> Iterator[_Deploy]:
    stacks = _PRODUCTION_STACKS | set(production_environments)
    for step in job.steps:
        run = step.body.get("run")
        if isinstance(run, str):
            selected: str | None = None
            for tokens in _commands(_substitute(run, values, {**job.env, **_string_mapping(step.body.get("env"))})):
                selected = _pulumi_selected_stack(tokens) or selected
                found = _vercel_production(tokens) or _pulumi_production(tokens, selected, stacks)
                if found:
                    yield _Deploy(step, *found)
        yield from _action_deploys(step, values, job, stacks)


def _action_deploys(step: _Step, values: Mapping[str, str], job: _Job, stacks: frozenset[str]) -> Iterator[_Deploy]:
    uses = step.body.get("uses")
    with_ = step.body.get("with")
    if not isinstance(uses, str) or not isinstance(with_, dict):
        return
    action = uses.split("@")[0].lower()
    inputs = {str(k): _substitute(str(v), values, job.env) for k, v in with_.items()}
    if action == "pulumi/actions" and inputs.get("command", "").strip() in _PULUMI_DEPLOYS:
        stack = inputs.get("stack-name", "").strip()
        if _stack_is_production(stack or None, stacks):
            yield _Deploy(
                step,
                "pulumi",
                f"`{uses.split('@')[0]}` {inputs['command'].strip()} of stack '{stack or _UNKNOWN}'",
            )
    elif "vercel" in action and any(_has_production_flag(_split(v)) for v in inputs.values()):
        yield _Deploy(step, "vercel", f"`{uses.split('@')[0]}` with --prod")


_WRAPPERS = frozenset({"sudo", "env", "time", "command", "exec", "nice", "npx", "bunx", "pnpx"})
_PACKAGE_MANAGERS = frozenset({"pnpm", "yarn", "npm", "bun"})
_PACKAGE_RUNNERS = frozenset({"dlx", "exec", "x", "run"})


def _program(tokens: list[str]) -> tuple[str, list[str]] | None:
    """The program a shell command runs and its arguments, seen through `VAR=x`, npx, pnpm dlx..."""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.rsplit("/", 1)[-1]
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token) or token.startswith("-") or name in _WRAPPERS:
            i += 1
        elif name in _PACKAGE_MANAGERS:
            i += 2 if i + 1 < len(tokens) and tokens[i + 1] in _PACKAGE_RUNNERS else 1
        else:
            return re.sub(r"@[\w.\-]+$", "", name), tokens[i + 1 :]
    return None


def _vercel_production(tokens: list[str]) -> tuple[str, str] | None:
    program = _program(tokens)
    if program is None or program[0] != "vercel":
        return None
    rest = program[1]
    subcommand = next((t for t in rest if t in _VERCEL_SUBCOMMANDS), "deploy")
    if subcommand in ("promote", "rollback"):
        return "vercel", f"`vercel {subcommand}`"
    if subcommand in ("deploy", "redeploy") and _has_production_flag(rest):
        return "vercel", f"`vercel {subcommand} --prod`"
    return None


def _has_production_flag(tokens: list[str]) -> bool:
    for i, arg in enumerate(tokens):
        if arg in ("--prod", "--prod=true", "--target=production"):
            return True
        if arg == "--target" and tokens[i + 1 : i + 2] == ["production"]:
            return True
    return False


def _pulumi_arguments(tokens: list[str]) -> list[str] | None:
    program = _program(tokens)
    return program[1] if program is not None and program[0] == "pulumi" else None


def _pulumi_selected_stack(tokens: list[str]) -> str | None:
    rest = _pulumi_arguments(tokens)
    if rest is None:
        return None
    if rest[:2] == ["stack", "select"]:
        names = [t for t in rest[2:] if not t.startswith("-")]
        return _stack_flag(rest) or (names[0] if names else None)
    return None


def _pulumi_production(tokens: list[str], selected: str | None, stacks: frozenset[str]) -> tuple[str, str] | None:
    rest = _pulumi_arguments(tokens)
    if rest is None:
        return None
    command = _first_argument(rest)
    if command not in _PULUMI_DEPLOYS:
        return None
    stack = _stack_flag(rest) or selected
    if _stack_is_production(stack, stacks):
        return "pulumi", f"`pulumi {command}` of stack '{stack or _UNKNOWN}'"
    return None


def _first_argument(tokens: list[str]) -> str | None:
    """The first token that is neither a flag nor a flag's value (`pulumi -C infra up` -> up)."""
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token in ("-C", "--cwd", "-s", "--stack"):
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def _stack_flag(tokens: list[str]) -> str | None:
    for i, token in enumerate(tokens):
        if token in ("--stack", "-s") and i + 1 < len(tokens):
            return tokens[i + 1]
        if token.startswith("--stack="):
            return token.split("=", 1)[1]
    return None


def _stack_is_production(stack: str | None, stacks: frozenset[str]) -> bool:
    # A stack that cannot be read statically may be production: it must be gated like production.
    if stack is None:
        return True
    name = stack.rsplit("/", 1)[-1]
    if "$" in name:
        return True
    return name.lower() in stacks


def _commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell script as tokens, including `$(...)` and backtick bodies."""
    joined = re.sub(r"\\\r?\n", " ", script)
    substitutions = re.findall(r"\$\(([^()]*)\)", joined) + re.findall(r"`([^`]*)`", joined)
    for piece in (joined, *substitutions):
        for line in piece.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for command in re.split(r"&&|\|\||[;|]", line):
                tokens = _split(command)
                if tokens:
                    yield tokens


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def _substitute(text: str, values: Mapping[str, str], env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        scope, _, key = expression.partition(".")
        if scope == "matrix" and key in values:
            return values[key]
        if scope == "env" and key in env and "${{" not in env[key]:
            return env[key]
        return match.group(0)

    return _EXPRESSION.sub(replace, text)


def _matrix_combinations(strategy: Any) -> list[dict[str, str]]:
    """The literal combinations of a job's matrix (include/exclude applied); [{}] without one."""
    matrix = strategy.get("matrix") if isinstance(strategy, dict) else None
    if not isinstance(matrix, dict):
        return [{}]
    axes = {
        str(k): [str(v) for v in values]
        for k, values in matrix.items()
        if k not in ("include", "exclude") and isinstance(values, list)
    }
    combos: list[dict[str, str]] = [
        dict(zip(axes, product, strict=True)) for product in itertools.product(*axes.values())
    ]
    if combos == [{}]:
        combos = []
    for exclude in _dicts(matrix.get("exclude")):
        combos = [c for c in combos if any(c.get(k) != v for k, v in exclude.items())]
    for include in _dicts(matrix.get("include")):
        matched = False
        for combo in combos:
            if all(combo.get(k, v) == v for k, v in include.items() if k in axes):
                combo.update(include)
                matched = True
        if not matched:
            combos.append(dict(include))
    return combos or [{}]


def _dicts(value: Any) -> Iterable[dict[str, str]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield {str(k): str(v) for k, v in item.items()}

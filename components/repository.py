"""Repository: the app repository's GitHub environment(s) for one stack, and (in exactly one stack)
the repository-wide rules of the default branch.

GitHub facts this design follows:
- an environment's required reviewers are satisfied by any *one* of them, so "tech-lead AND
  product-owner" needs one environment per team, chained: the deploy job's environment is the last
  gate and a job that `needs:` the earlier gates' jobs runs first (see `approval_gates`);
- `prevent_self_review` defaults to false and `can_admins_bypass` to true, so both are set
  explicitly;
- repository rulesets take per-team `required_reviewers` with a minimum number of approvals, which
  is how the same two teams are required on pull requests into the default branch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_github as github

from components.naming import NamingContext

MANAGED_FILES_BRANCH = "chefchatz-infra/managed-files"


def managed_files_branch(files: Mapping[str, str]) -> str:
    """The branch that carries one version of the managed files: named after their content, so every
    change is cut fresh from `main` on a branch of its own, with a pull request of its own.

    One fixed branch would reach `main` once: the provider never reopens or recreates a merged pull
    request, and never re-cuts a branch from `main` (terraform-provider-github: `head_ref` forces a
    new pull request, a merged one is left alone on delete; a renamed branch is renamed in place).
    """
    digest = hashlib.sha256()
    for path, content in sorted(files.items()):
        digest.update(f"{len(path)}:{path}{len(content)}:{content}".encode())
    return f"{MANAGED_FILES_BRANCH}-{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class ApprovalGate:
    environment: str
    team: str


def approval_gates(environment: str, teams: tuple[str, ...]) -> list[ApprovalGate]:
    """One GitHub environment per approving team; the last one is the deploy environment itself.

    >>> [(g.environment, g.team) for g in approval_gates("production", ("tech-lead", "product-owner"))]
    [('production-tech-lead', 'tech-lead'), ('production', 'product-owner')]
    """
    if not teams:
        return []
    gates = [ApprovalGate(f"{environment}-{team}", team) for team in teams[:-1]]
    gates.append(ApprovalGate(environment, teams[-1]))
    return gates


@dataclass(frozen=True)
class RepositoryArgs:
    naming: NamingContext
    repository: str
    environment: str
    # Teams that must each approve a deployment of this environment (empty: no approval).
    approval_teams: tuple[str, ...]
    # Git refs allowed to deploy (branch and tag patterns); empty means any branch.
    deploy_branches: tuple[str, ...]
    deploy_tags: tuple[str, ...]
    variables: Mapping[str, pulumi.Input[str]]
    secrets: Mapping[str, pulumi.Input[str]]
    owns_repository_rules: bool = False
    required_status_checks: tuple[str, ...] = ()
    # Pull requests into the default branch: total approvals and the teams each required.
    required_approvals: int = 2
    pull_request_teams: tuple[str, ...] = ()
    codeowners: str = ""
    extra_files: Mapping[str, str] = field(default_factory=dict)
    # The release process's GitHub environment (owning stack only): only `main` may use it; it
    # holds the release App's client id. The App's private key is set there once by an org admin
    # (`gh secret set RELEASE_APP_PRIVATE_KEY --env release`), so no other system holds a copy.
    release_environment: str = ""
    release_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class Repository(pulumi.ComponentResource):
    """GitHub environments with their approval gates, variables and secrets for one stack."""

    def __init__(self, name: str, args: RepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chefchatz:github:Repository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        team_ids: dict[str, pulumi.Output[int]] = {}
        needed = (*args.approval_teams, *(args.pull_request_teams if args.owns_repository_rules else ()))
        for team in dict.fromkeys(needed):
            team_ids[team] = github.get_team_output(
                slug=team, summary_only=True, opts=pulumi.InvokeOptions(parent=self)
            ).id.apply(int)

        gates = approval_gates(args.environment, args.approval_teams) or [ApprovalGate(args.environment, "")]
        restricted = bool(args.deploy_branches or args.deploy_tags)
        self.environments: list[github.RepositoryEnvironment] = []
        for gate in gates:
            env = github.RepositoryEnvironment(
                f"{name}-env-{gate.environment}",
                repository=args.repository,
                environment=gate.environment,
                reviewers=[github.RepositoryEnvironmentReviewerArgs(teams=[team_ids[gate.team]])]
                if gate.team
                else None,
                prevent_self_review=bool(gate.team),
                can_admins_bypass=False,
                deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                    protected_branches=False, custom_branch_policies=True
                )
                if restricted
                else None,
                opts=args.naming.stateful(child),
            )
            self.environments.append(env)
            _deploy_policies(f"{name}-env-{gate.environment}", args, env, args.deploy_branches, args.deploy_tags, child)

        deploy_env = self.environments[-1]
        _variables(f"{name}-var", args.repository, deploy_env, args.variables, child)
        for key, value in sorted(args.secrets.items()):
            github.ActionsEnvironmentSecret(
                f"{name}-secret-{_slug(key)}",
                repository=args.repository,
                environment=deploy_env.environment,
                secret_name=key,
                value=pulumi.Output.secret(value),
                opts=child,
            )

        if args.owns_repository_rules:
            self._default_branch_rules(name, args, team_ids, child)
            if args.release_environment:
                self._release_environment(name, args, child)

        self.register_outputs({"environments": [e.environment for e in self.environments]})

    def _default_branch_rules(
        self,
        name: str,
        args: RepositoryArgs,
        team_ids: Mapping[str, pulumi.Output[int]],
        child: pulumi.ResourceOptions,
    ) -> None:
        # A team that owns code must have write access to the repository, or its ownership (and the
        # code-owner review the rules require) is void (GitHub, "About code owners"); a required
        # reviewer of an environment needs read access. The rules-owning stack grants each team that
        # approves anything write access, once for all stacks.
        self.team_access = [
            github.TeamRepository(
                f"{name}-team-{team}",
                team_id=team_ids[team].apply(str),
                repository=args.repository,
                permission="push",
                opts=child,
            )
            for team in dict.fromkeys((*args.pull_request_teams, *args.approval_teams))
        ]
        self.main_rules = github.RepositoryRuleset(
            f"{name}-main-rules",
            name="default-branch",
            repository=args.repository,
            target="branch",
            enforcement="active",
            conditions=github.RepositoryRulesetConditionsArgs(
                ref_name=github.RepositoryRulesetConditionsRefNameArgs(includes=["~DEFAULT_BRANCH"], excludes=[])
            ),
            # No bypass actors: admins follow the same rules as everyone.
            bypass_actors=[],
            rules=github.RepositoryRulesetRulesArgs(
                deletion=True,
                non_fast_forward=True,
                pull_request=github.RepositoryRulesetRulesPullRequestArgs(
                    required_approving_review_count=args.required_approvals,
                    require_code_owner_review=True,
                    dismiss_stale_reviews_on_push=True,
                    require_last_push_approval=True,
                    required_review_thread_resolution=True,
                    required_reviewers=[
                        github.RepositoryRulesetRulesPullRequestRequiredReviewerArgs(
                            minimum_approvals=1,
                            file_patterns=["*"],
                            reviewer=github.RepositoryRulesetRulesPullRequestRequiredReviewerReviewerArgs(
                                id=team_ids[team], type="Team"
                            ),
                        )
                        for team in args.pull_request_teams
                    ],
                ),
                required_status_checks=github.RepositoryRulesetRulesRequiredStatusChecksArgs(
                    strict_required_status_checks_policy=True,
                    required_checks=[
                        github.RepositoryRulesetRulesRequiredStatusChecksRequiredCheckArgs(context=check)
                        for check in args.required_status_checks
                    ],
                ),
            ),
            opts=args.naming.stateful(child),
        )
        # Release tags are what production deploys from: nobody may move or delete them.
        self.tag_rules = github.RepositoryRuleset(
            f"{name}-release-tag-rules",
            name="release-tags",
            repository=args.repository,
            target="tag",
            enforcement="active",
            conditions=github.RepositoryRulesetConditionsArgs(
                ref_name=github.RepositoryRulesetConditionsRefNameArgs(
                    includes=[f"refs/tags/{p}" for p in args.deploy_tags] or ["refs/tags/v*"], excludes=[]
                )
            ),
            bypass_actors=[],
            rules=github.RepositoryRulesetRulesArgs(deletion=True, non_fast_forward=True, update=True),
            opts=args.naming.stateful(child),
        )
        files = dict(args.extra_files)
        if args.codeowners:
            files[".github/CODEOWNERS"] = args.codeowners
        if files:
            self._managed_files(name, args, files, child)

    def _release_environment(self, name: str, args: RepositoryArgs, child: pulumi.ResourceOptions) -> None:
        env = github.RepositoryEnvironment(
            f"{name}-env-{args.release_environment}",
            repository=args.repository,
            environment=args.release_environment,
            can_admins_bypass=False,
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=False, custom_branch_policies=True
            ),
            opts=args.naming.stateful(child),
        )
        _deploy_policies(f"{name}-env-{args.release_environment}", args, env, ("main",), (), child)
        _variables(f"{name}-release-var", args.repository, env, args.release_variables, child)
        self.release_environment = env

    def _managed_files(
        self, name: str, args: RepositoryArgs, files: Mapping[str, str], child: pulumi.ResourceOptions
    ) -> None:
        # Managed files reach the default branch through a pull request, reviewed under the same
        # rules as any change: the infrastructure never pushes past its own branch protection. A new
        # version of the files is a new branch (cut from main when it is created), new commits and a
        # new pull request; the superseded pull request is closed if still open (a merged one is left
        # as it is). Branches and commits are kept on delete: a merged branch may already be gone
        # (deleting it again would fail the update), and an old commit is history, not state.
        head = managed_files_branch(files)
        fresh = pulumi.ResourceOptions(parent=self, replace_on_changes=["branch"], retain_on_delete=True)
        branch = github.Branch(
            f"{name}-managed-files-branch",
            repository=args.repository,
            branch=head,
            source_branch="main",
            opts=fresh,
        )
        self.files = [
            github.RepositoryFile(
                f"{name}-file-{_slug(path)}",
                repository=args.repository,
                file=path,
                content=content,
                branch=branch.branch,
                commit_message=f"chore: update {path} (managed by chefchatz-infra)",
                overwrite_on_create=True,
                opts=fresh,
            )
            for path, content in sorted(files.items())
        ]
        self.files_pull_request = github.RepositoryPullRequest(
            f"{name}-managed-files-pr",
            base_repository=args.repository,
            base_ref="main",
            head_ref=branch.branch,
            title="chore: update files managed by chefchatz-infra",
            body="Generated by chefchatz-infra (`pulumi up --stack prod`). Review like any change.",
            maintainer_can_modify=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.files, replace_on_changes=["headRef"]),
        )


def _variables(
    prefix: str,
    repository: str,
    env: github.RepositoryEnvironment,
    variables: Mapping[str, pulumi.Input[str]],
    child: pulumi.ResourceOptions,
) -> None:
    """Plain-text GitHub Actions variables of an environment (never secrets: a policy checks)."""
    for key, value in sorted(variables.items()):
        github.ActionsEnvironmentVariable(
            f"{prefix}-{_slug(key)}",
            repository=repository,
            environment=env.environment,
            variable_name=key,
            value=value,
            opts=child,
        )


def _deploy_policies(
    prefix: str,
    args: RepositoryArgs,
    env: github.RepositoryEnvironment,
    branches: tuple[str, ...],
    tags: tuple[str, ...],
    child: pulumi.ResourceOptions,
) -> None:
    """The branch and tag patterns allowed to deploy through an environment."""
    environment = env.environment
    for kind, patterns in (("branch", branches), ("tag", tags)):
        for pattern in patterns:
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{prefix}-{kind}-{_slug(pattern)}",
                repository=args.repository,
                environment=environment,
                branch_pattern=pattern if kind == "branch" else None,
                tag_pattern=pattern if kind == "tag" else None,
                opts=child,
            )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")

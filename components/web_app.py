"""WebApp: the stack's Vercel project, its domains and its environment variables."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumiverse_vercel as vercel

from components.naming import NamingContext

# Which Vercel targets a variable reaches. Each stack has its own Vercel project whose
# "production" target serves the stack's domain; previews of the production project get no
# production secrets (PR previews belong in the dev project), so production values never leak
# into code that has not been reviewed and approved.
ALL_TARGETS = ("production", "preview", "development")


@dataclass(frozen=True)
class EnvVar:
    key: str
    value: pulumi.Input[str]
    sensitive: bool
    targets: tuple[str, ...]
    comment: str = ""


@dataclass(frozen=True)
class DomainSpec:
    name: str
    redirect: str | None = None
    redirect_status_code: int | None = None


def domain_plan(domain: str, is_production: bool) -> list[DomainSpec]:
    """The domains a stack serves.

    Production serves the apex and redirects `www` to it with a permanent 308 (keeps the method,
    unlike 301); other stacks serve only their own hostname.
    """
    if not is_production:
        return [DomainSpec(domain)]
    if domain.count(".") != 1:
        raise ValueError(f"production domain {domain!r} must be an apex domain such as 'chefchatz.com'")
    return [DomainSpec(domain), DomainSpec(f"www.{domain}", redirect=domain, redirect_status_code=308)]


def variable_targets(is_production: bool, sensitive: bool) -> tuple[str, ...]:
    """Where a variable is visible: production secrets reach only the production target."""
    if is_production:
        return ("production",) if sensitive else ("production", "preview")
    return ALL_TARGETS if not sensitive else ("production", "preview")


@dataclass(frozen=True)
class WebAppArgs:
    naming: NamingContext
    team_id: str
    domain: str
    is_production: bool
    node_version: str
    variables: tuple[EnvVar, ...]
    # Deployment protection for everything that is not the production domain: previews and
    # generated *.vercel.app URLs need a Vercel login ("standard protection").
    protection: str = "standard_protection_new"
    # Production deployments are kept a year: instant rollback can only go back to deployments
    # that still exist. Previews and failures are noise after a month / a week.
    retention: dict[str, str] = field(
        default_factory=lambda: {"production": "1y", "preview": "1m", "errored": "1w", "canceled": "1w"}
    )
    # rolloutStages: a production deploy starts as a canary at the first percentage and moves on only
    # when `chefchatz rollout watch` approves the next stage. Empty: no rolling release, 100 % at once.
    rollout_stages: tuple[int, ...] = ()


class WebApp(pulumi.ComponentResource):
    """One Vercel project per stack (Next.js, pnpm), its domains and variables."""

    project: vercel.Project
    domains: list[vercel.ProjectDomain]

    def __init__(self, name: str, args: WebAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chefchatz:web:WebApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.project = vercel.Project(
            f"{name}-project",
            name=args.naming.name(),
            team_id=args.team_id,
            framework="nextjs",
            install_command="pnpm install --frozen-lockfile",
            build_command="pnpm build",
            node_version=args.node_version,
            # No Git connection: the only way to production is the gated deploy pipeline
            # (tests, backup, migrations, approvals, rollback guard), never a bare push.
            git_fork_protection=True,
            vercel_authentication=vercel.ProjectVercelAuthenticationArgs(deployment_type=args.protection),
            automatically_expose_system_environment_variables=True,
            protected_sourcemaps=True,
            directory_listing=False,
            opts=args.naming.stateful(child),
        )
        project_id = self.project.id

        self.domains = []
        added: dict[str, vercel.ProjectDomain] = {}
        for spec in domain_plan(args.domain, args.is_production):
            # A redirect names a domain of the project: it is added after its target (Vercel's own
            # examples and the dashboard only redirect to a domain the project already has).
            target = added.get(spec.redirect) if spec.redirect else None
            domain = vercel.ProjectDomain(
                f"{name}-domain-{spec.name.replace('.', '-')}",
                project_id=project_id,
                team_id=args.team_id,
                domain=spec.name,
                redirect=target.domain if target is not None else spec.redirect,
                redirect_status_code=spec.redirect_status_code,
                opts=args.naming.stateful(child),
            )
            added[spec.name] = domain
            self.domains.append(domain)

        self.variables = [
            vercel.ProjectEnvironmentVariable(
                f"{name}-env-{var.key.lower().replace('_', '-')}",
                project_id=project_id,
                team_id=args.team_id,
                key=var.key,
                value=var.value,
                sensitive=var.sensitive,
                targets=list(var.targets),
                comment=var.comment or None,
                # A change of `sensitive` (or of the key) replaces the variable, and Vercel refuses a
                # second variable with the same key and target (ENV_ALREADY_EXISTS, pulumiverse/pulumi-vercel
                # issue 118): the old one must go first.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
            for var in args.variables
        ]

        self.retention = vercel.ProjectDeploymentRetention(
            f"{name}-retention",
            project_id=project_id,
            team_id=args.team_id,
            expiration_production=args.retention["production"],
            expiration_preview=args.retention["preview"],
            expiration_errored=args.retention["errored"],
            expiration_canceled=args.retention["canceled"],
            opts=child,
        )

        # Manual approval, not Vercel's timed "automatic" advancement: a stage moves on only when the
        # canary's real traffic was judged against the stable deployment's (docs/rollout.md).
        self.rolling_release = (
            vercel.ProjectRollingRelease(
                f"{name}-rolling-release",
                project_id=project_id,
                team_id=args.team_id,
                advancement_type="manual-approval",
                stages=[vercel.ProjectRollingReleaseStageArgs(target_percentage=p) for p in args.rollout_stages],
                opts=child,
            )
            if args.rollout_stages
            else None
        )

        self.url = pulumi.Output.from_input(f"https://{args.domain}")
        self.register_outputs(
            {
                "projectId": project_id,
                "url": self.url,
                "domains": [d.domain for d in self.domains],
            }
        )

"""The ChefChatz app repository's CI/CD, generated as text by pure functions.

The `Repository` component commits these files to the app repository (through a reviewed pull
request), so the pipeline is versioned and reviewed with the infrastructure that backs it. Nothing
here imports Pulumi: every function turns a small frozen `AppPipelineArgs` into file contents, and
the tests lint the result with zizmor, GitHub's workflow schema and `policies.workflows`.

Files (`app_workflow_files(args)` returns them as a ``{path: content}`` dict):

- ``.github/workflows/ci.yml``: pull requests and main: ``test``, ``build`` and ``policy-gate``
  (zizmor over the repository's own workflows) - the required status checks of the default branch;
- ``.github/workflows/deploy.yml``: every push to main: test, then each non-production environment
  in order (dev -> staging), each job: build (``vercel build --prod``) -> pre-migration backup
  (``chefchatz backup db``) -> (staging, production) migration rehearsal on that backup
  (``chefchatz migrate rehearse``, report kept as an artifact) -> database migrations ->
  ``vercel deploy --prebuilt --prod`` ->
  ``chefchatz rollback watch`` -> notify. An environment only starts once the previous one
  deployed *and* passed its rollback watch: that is the promotion;
- ``.github/workflows/deploy-production.yml``: a published release: test at the release tag, the
  approval gate jobs (``production-tech-lead``), then the same deploy job in ``production``; with
  ``production_rollout`` the deploy starts a Vercel rolling release (a canary) that
  ``chefchatz rollout watch`` promotes stage by stage or aborts on real traffic, and the rollback
  watch then judges 100 % on real traffic (``--source metrics``);
- ``.github/workflows/release-train.yml``: the release train: a weekly schedule that only departs
  on the configured cadence (bi-weekly: even ISO weeks) and opens or updates the release pull
  request with release-please (semantic version and changelog from conventional commits);
- ``.github/workflows/release.yml``: every push to main: when the merged commit is a release pull
  request, release-please tags it and publishes the GitHub release, which starts the production
  deployment;
- ``release-please-config.json``: release-please's configuration;
- ``.github/CODEOWNERS`` (``codeowners(...)``): tech-lead owns infrastructure and migrations, both
  teams own the release files.

The deploy jobs read from their GitHub environment (managed by the same stack): the variables in
`required_variables(args)` and the secrets in `required_secrets(args)`.

The generator lives in `components/app_pipeline/`, one module per concern (arguments, pinned actions,
shared steps, each workflow family, the files beside the workflows); this module assembles the files
and is where the rest of the code imports the generator's names from.
"""

from __future__ import annotations

from components.app_pipeline.actions import (
    APP_TOKEN,
    CHECKOUT,
    CONFIGURE_AWS,
    DOWNLOAD_ARTIFACT,
    GITHUB_SCRIPT,
    PINNED_ACTIONS,
    PULUMI,
    PULUMI_AUTH,
    RELEASE_PLEASE,
    SETUP_NODE,
    SETUP_PYTHON,
    UPLOAD_ARTIFACT,
    PinnedAction,
)
from components.app_pipeline.args import (
    AppEnvironment,
    AppPipelineArgs,
    ReleaseSchedule,
    default_environments,
    required_secrets,
    required_variables,
    validate,
)
from components.app_pipeline.ci import ci_workflow
from components.app_pipeline.deploy import (
    GUARD_NOTIFY,
    REHEARSAL_REPORT,
    SENSITIVE_PLACEHOLDERS_DROPPED,
    deploy_production_workflow,
    deploy_workflow,
)
from components.app_pipeline.release import (
    departure_script,
    release_cron,
    release_train_workflow,
    release_workflow,
    train_departs,
)
from components.app_pipeline.repo_files import INFRA_PATHS, RELEASE_FILES, codeowners, release_please_config
from components.app_pipeline.steps import RUNNER

__all__ = [
    "APP_TOKEN",
    "CHECKOUT",
    "CONFIGURE_AWS",
    "DOWNLOAD_ARTIFACT",
    "GITHUB_SCRIPT",
    "GUARD_NOTIFY",
    "INFRA_PATHS",
    "PINNED_ACTIONS",
    "PULUMI",
    "PULUMI_AUTH",
    "REHEARSAL_REPORT",
    "RELEASE_FILES",
    "RELEASE_PLEASE",
    "RUNNER",
    "SENSITIVE_PLACEHOLDERS_DROPPED",
    "SETUP_NODE",
    "SETUP_PYTHON",
    "UPLOAD_ARTIFACT",
    "AppEnvironment",
    "AppPipelineArgs",
    "PinnedAction",
    "ReleaseSchedule",
    "app_workflow_files",
    "ci_workflow",
    "codeowners",
    "default_environments",
    "departure_script",
    "deploy_production_workflow",
    "deploy_workflow",
    "release_cron",
    "release_please_config",
    "release_train_workflow",
    "release_workflow",
    "required_secrets",
    "required_variables",
    "train_departs",
    "validate",
]


def app_workflow_files(args: AppPipelineArgs) -> dict[str, str]:
    """Every generated file of the app repository's pipeline, by path (CODEOWNERS: `codeowners`)."""
    return {
        ".github/workflows/ci.yml": ci_workflow(args),
        ".github/workflows/deploy.yml": deploy_workflow(args),
        ".github/workflows/deploy-production.yml": deploy_production_workflow(args),
        ".github/workflows/release-train.yml": release_train_workflow(args),
        ".github/workflows/release.yml": release_workflow(args),
        "release-please-config.json": release_please_config(args),
    }

"""The ChefChatz deployment pipeline: settings -> components -> exports."""

import pulumi

from components.environment import Environment
from components.settings import SettingsError, from_pulumi

try:
    settings, secrets = from_pulumi()
except SettingsError as exc:
    # One readable error naming every bad key, before any resource is registered.
    raise pulumi.RunError(str(exc)) from exc

environment = Environment(f"{settings.project}-{settings.stack}", settings, secrets)

pulumi.export("environment", settings.environment.kind)
pulumi.export("url", environment.url)
pulumi.export("database", settings.environment.database_name)
pulumi.export("vercelProjectId", environment.web_app.project.id)
pulumi.export("domains", [d.domain for d in environment.web_app.domains])
pulumi.export("githubEnvironments", [e.environment for e in environment.repository.environments])
if environment.backups is not None:
    # The role on-call assumes to verify and restore backups, the replicas too (docs/disaster-recovery.md).
    pulumi.export("restoreRoleArn", environment.backups.restore_role.arn)

"""The third-party actions of the generated workflows (and of this repository's), pinned once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedAction:
    """A third-party action at a full commit SHA; `version` is the release tag that SHA carries."""

    repository: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repository}@{self.sha} # {self.version}"


# Every action the generated files use, pinned once. The SHAs are the commits the release tags
# point at (cross-checked in public workflows pinned by SHA, see docs/pipelines.md); this
# repository's own workflows use the same pins, and a test keeps both in step.
CHECKOUT = PinnedAction("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_NODE = PinnedAction("actions/setup-node", "820762786026740c76f36085b0efc47a31fe5020", "v7.0.0")
SETUP_PYTHON = PinnedAction("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0")
CONFIGURE_AWS = PinnedAction(
    "aws-actions/configure-aws-credentials", "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"
)
APP_TOKEN = PinnedAction("actions/create-github-app-token", "bcd2ba49218906704ab6c1aa796996da409d3eb1", "v3.2.0")
RELEASE_PLEASE = PinnedAction("googleapis/release-please-action", "45996ed1f6d02564a971a2fa1b5860e934307cf7", "v5.0.0")
GITHUB_SCRIPT = PinnedAction("actions/github-script", "3a2844b7e9c422d3c10d287c895573f7108da1b3", "v9.0.0")
PULUMI = PinnedAction("pulumi/actions", "8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0")
PULUMI_AUTH = PinnedAction("pulumi/auth-actions", "141415910c3beb54e03b48e9057c204c97b956f2", "v2.1.0")
UPLOAD_ARTIFACT = PinnedAction("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2")
# Used by this repository's drift workflow only; reviewed here with the other pins.
DOWNLOAD_ARTIFACT = PinnedAction("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0")

PINNED_ACTIONS: tuple[PinnedAction, ...] = (
    CHECKOUT,
    SETUP_NODE,
    SETUP_PYTHON,
    CONFIGURE_AWS,
    APP_TOKEN,
    RELEASE_PLEASE,
    GITHUB_SCRIPT,
    PULUMI,
    PULUMI_AUTH,
    UPLOAD_ARTIFACT,
    DOWNLOAD_ARTIFACT,
)

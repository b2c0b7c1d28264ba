"""Entry point of the CrossGuard policy pack: `pulumi preview --policy-pack policies`.

Only builds the PolicyPack (which serves the policies to the engine and never returns); the rules
live in the area modules, which tests import directly.
"""

import sys
from pathlib import Path

# The CLI runs this file from inside policies/; make `policies.*` importable as in tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_NAME, POLICIES

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
    description="ChefChatz deployment guarantees: approvals, secrets, TLS, backups, monitors, workflows.",
)

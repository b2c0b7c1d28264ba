"""Off-site backups of the database and Storage assets, their verification, restores and drills.

Owns: the streaming dump to S3, asset copies, manifests and checksums, listing, verification,
restore and the restore drill (`core`); `cli` is `chefchatz backup|restore|drill`.

The library (boto3, psycopg) loads on first use of one of its names, not when the package is
imported: `chefchatz --help` and the other commands register this package's CLI without paying for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ops.backup.core import *  # noqa: F403 - the names __getattr__ serves


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    return getattr(importlib.import_module("ops.backup.core"), name)

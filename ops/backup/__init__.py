"""Off-site backups of the database and Storage assets, their verification, restores and drills.

Owns `chefchatz backup|restore|drill` (`cli`) and the library beside it, one module per concern:
`layout` (keys, backup ids), `dump` (the database backup), `directory` (its parallel layout: pg_dump
--jobs, one object per 32 MiB of each file, parallel fetch), `assets` (Storage copies), `upload`
(streaming to S3), `catalog` (list, verify), `restore`, `drill` (and its scale statement), `metrics`,
`supabase` (PITR check), restores into a new Supabase project (`toc`: the archive's entries,
`supabase_plan`: which of them, `supabase_restore`: the passes) and the stand-in for one
(`supabase_shape`), and the plumbing they share (`aws`, `postgres`, `timing`, `errors`); `access`
decides, before a dump, what the role may not read: platform tables left out, anything else refused.

The library (boto3, psycopg) loads on first use of one of its names, not when the package is
imported: `chefchatz --help` and the other commands register this package's CLI without paying for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ops.backup.access import *  # noqa: F403 - the names __getattr__ serves
    from ops.backup.assets import *  # noqa: F403
    from ops.backup.aws import *  # noqa: F403
    from ops.backup.catalog import *  # noqa: F403
    from ops.backup.directory import *  # noqa: F403
    from ops.backup.drill import *  # noqa: F403
    from ops.backup.dump import *  # noqa: F403
    from ops.backup.errors import *  # noqa: F403
    from ops.backup.layout import *  # noqa: F403
    from ops.backup.metrics import *  # noqa: F403
    from ops.backup.postgres import *  # noqa: F403
    from ops.backup.restore import *  # noqa: F403
    from ops.backup.supabase import *  # noqa: F403
    from ops.backup.supabase_plan import *  # noqa: F403
    from ops.backup.supabase_restore import *  # noqa: F403
    from ops.backup.supabase_shape import *  # noqa: F403
    from ops.backup.timing import *  # noqa: F403
    from ops.backup.toc import *  # noqa: F403
    from ops.backup.upload import *  # noqa: F403

# The modules whose `__all__` make up the package's names, cheapest first.
_MODULES = (
    "errors",
    "timing",
    "layout",
    "toc",
    "access",
    "postgres",
    "aws",
    "metrics",
    "upload",
    "directory",
    "supabase",
    "supabase_shape",
    "supabase_plan",
    "supabase_restore",
    "catalog",
    "dump",
    "assets",
    "restore",
    "drill",
)


def __getattr__(name: str) -> Any:
    if not name.startswith("_"):
        for module_name in _MODULES:
            module = importlib.import_module(f"ops.backup.{module_name}")
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module 'ops.backup' has no attribute {name!r}")

"""The base of `chefchatz plan --base REF`: the merge base of REF and HEAD, checked out on its own.

The base is checked out as a temporary `git worktree` (detached, removed afterwards): the checkout
the command runs in, its index and its working tree are never touched, and the program run there
sees a git checkout of the base commit, as `pulumi up` run from that commit would.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class BaseRefError(ValueError):
    """REF names no commit, or has no common history with HEAD; the message says which and why."""


@dataclass(frozen=True)
class BaseCheckout:
    ref: str
    commit: str
    # The project's directory inside the base checkout (the same place relative to the repository).
    project_dir: Path


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, check=False)


def merge_base(project_dir: Path, ref: str) -> str:
    """The commit `git merge-base REF HEAD` names, or BaseRefError saying what is missing."""
    if _git(project_dir, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise BaseRefError(f"--base {ref}: {project_dir} is not inside a git checkout")
    resolved = _git(project_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        raise BaseRefError(f"--base {ref}: unknown revision (fetch it first, e.g. `git fetch origin {ref}`)")
    found = _git(project_dir, "merge-base", resolved.stdout.strip(), "HEAD")
    if found.returncode != 0:
        shallow = _git(project_dir, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        hint = " (this clone is shallow: fetch more history, e.g. `git fetch --unshallow`)" if shallow else ""
        raise BaseRefError(f"--base {ref}: no common history with HEAD{hint}")
    return found.stdout.strip()


@contextmanager
def base_checkout(project_dir: Path, ref: str) -> Iterator[BaseCheckout]:
    """Check out the merge base of REF and HEAD in a temporary worktree for as long as the block runs."""
    commit = merge_base(project_dir, ref)
    top = Path(_git(project_dir, "rev-parse", "--show-toplevel").stdout.strip())
    scratch = Path(tempfile.mkdtemp(prefix="chefchatz-base-"))
    checkout = scratch / "checkout"
    added = _git(top, "worktree", "add", "--detach", "--quiet", str(checkout), commit)
    try:
        if added.returncode != 0:
            raise RuntimeError(f"git worktree add {commit} failed: {added.stderr.strip()}")
        yield BaseCheckout(ref, commit, checkout / project_dir.resolve().relative_to(top.resolve()))
    finally:
        _git(top, "worktree", "remove", "--force", str(checkout))
        shutil.rmtree(scratch, ignore_errors=True)
        _git(top, "worktree", "prune")

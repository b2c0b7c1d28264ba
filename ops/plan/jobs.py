"""The caller's side of the offline runs: start the process that runs the stacks, hand it the gate's
configuration, collect what each stack's process recorded.

Kept free of the SDKs and the policy pack (standard library only), so that `chefchatz plan` starts
that process first and checks the pack config while the process loads the SDKs on the other core.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops import ExitStatus

if TYPE_CHECKING:
    from ops.plan.policy_gate import PolicyConfigs

# One run of a program: (project directory, stack).
Job = tuple[Path, str]


class Runs:
    """Stacks being planned by one `python -m ops.plan.offline` process (see `start`)."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = list(jobs)
        self.scratch = Path(tempfile.mkdtemp(prefix="chefchatz-plan-"))
        request = self.scratch / "jobs.json"
        request.write_text(json.dumps([[str(directory), stack] for directory, stack in self.jobs]), encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ops.plan.offline", "--jobs", str(request), "--out", str(self.scratch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.jobs[0][0] if self.jobs else None,
        )

    def results(
        self, policies: PolicyConfigs | None, tolerate: Container[int] = ()
    ) -> Iterator[tuple[Job, dict[str, Any]]]:
        """Let the stacks run, with the policy gate when `policies` (each policy's level and
        properties) is given; yields (job, recorded plan) in the order given.

        Raises RuntimeError naming the stack, with its output as a note; for a job whose index is in
        `tolerate`, the failure is its result instead (`{"stack": ..., "runError": ...}`).
        """
        try:
            _, stderr = self.process.communicate(json.dumps({"policies": policies}))
            if self.process.returncode != ExitStatus.OK:
                raise _failure(f"offline plan failed (exit {self.process.returncode})", stderr)
            for index, job in enumerate(self.jobs):
                result = self.scratch / f"{index}.json"
                if not result.is_file():
                    log = (self.scratch / f"{index}.log").read_text(errors="replace")
                    failure = _failure(f"offline run of stack {job[1]!r} failed", log)
                    if index not in tolerate:
                        raise failure
                    yield job, {"stack": job[1], "runError": str(failure)}
                    continue
                yield job, json.loads(result.read_text())
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop the process if it still runs (nothing is planned) and remove its scratch directory."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _failure(what: str, output: str) -> RuntimeError:
    """`what` and the output's last line; the whole output (the program's own traceback) rides along as
    a note, which `chefchatz --debug` prints with the error's."""
    output = output.strip()
    error = RuntimeError(f"{what}: {(output.splitlines() or ['no output'])[-1]}")
    error.add_note(output)
    return error


def start(jobs: Sequence[Job]) -> Runs:
    """Start the process that will run `jobs`; it loads the SDKs until `Runs.results` lets it go on.

    One fresh process (`python -m ops.plan.offline`) preloads the SDKs (and, once it knows the gate
    runs, the policy pack) and forks a child per job: the caller's own state (threads, an event loop,
    a Pulumi runtime a test configured) never reaches a run. Each child also runs the policy gate
    over its own stack, so the gate of one stack runs beside the program of the next.
    """
    return Runs(jobs)

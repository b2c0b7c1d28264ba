"""Hostile input to `chefchatz plan`: a pull request's stack file must not hold CI hostage. Each case is
refused as bad input naming the file (exit 2), or, for a program that never finishes, stopped and
named (exit 3), quickly."""

from __future__ import annotations

import time
from pathlib import Path

from tests.plan.test_plan import chefchatz, project_copy


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """`levels` anchors, each a list of `width` aliases of the one before: width**levels leaves."""
    lines = ["    - &a0 lol"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"    - &a{level} [{aliases}]")
    return "\n".join(lines)


def test_an_alias_bomb_in_a_stack_file_exits_2_naming_the_file_without_expanding_it(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    stack_file = project / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text() + "  chefchatz:rolloutStages:\n" + alias_bomb() + "\n")
    assert len(stack_file.read_bytes()) < 2000, "a few hundred bytes of aliases"
    started = time.monotonic()
    run = chefchatz("plan", "--stack", "prod", "--format", "json", "--project-dir", str(project))
    elapsed = time.monotonic() - started
    assert run.code == 2, run.stderr
    error = run.json["stacks"][0]["configError"]
    assert "Pulumi.prod.yaml" in error and "YAML alias *a" in error, error
    # Expanding the bomb takes minutes; refusing it takes the CLI's start-up (about a second on a quiet
    # machine: benchmarks are where times are held, this bound only proves nothing expanded).
    assert elapsed < 60, f"took {elapsed:.1f}s"


def test_an_alias_in_the_project_file_is_refused_naming_it(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    (project / "Pulumi.yaml").write_text(
        (project / "Pulumi.yaml").read_text() + "\nx-shared: &shared {a: 1}\nx-again: *shared\n"
    )
    run = chefchatz("plan", "--stack", "dev", "--format", "json", "--project-dir", str(project))
    assert run.code == 2, run.stderr
    assert "Pulumi.yaml" in run.stdout + run.stderr and "alias *shared" in run.stdout + run.stderr


def test_an_oversized_stack_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + "# " + "x" * (1024 * 1024) + "\n")
    run = chefchatz("plan", "--stack", "dev", "--format", "json", "--project-dir", str(project))
    assert run.code == 2, run.stderr
    assert "Pulumi.dev.yaml" in run.stdout and "over the 1048576-byte limit" in run.stdout, run.stdout


def test_a_stack_file_linked_to_an_endless_device_is_refused_unread(tmp_path: Path) -> None:
    # stat() says 0 bytes; reading it would never end.
    project = project_copy(tmp_path)
    (project / "Pulumi.dev.yaml").unlink()
    (project / "Pulumi.dev.yaml").symlink_to("/dev/zero")
    run = chefchatz("plan", "--stack", "dev", "--format", "json", "--project-dir", str(project))
    assert run.code == 2, run.stderr
    assert "Pulumi.dev.yaml" in run.stdout and "not a regular file" in run.stdout, run.stdout


def test_a_pack_config_nested_too_deeply_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "pack.json"
    config.write_text("[" * 100_000 + "]" * 100_000)
    run = chefchatz("plan", "--stack", "dev", "--policy-pack-config", str(config))
    assert run.code == 2, run.stderr
    assert str(config) in run.stderr and "nested too deeply" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_a_program_that_never_finishes_is_stopped_and_named_exit_3(tmp_path: Path, monkeypatch) -> None:
    project = project_copy(tmp_path)
    program = project / "__main__.py"
    program.write_text(program.read_text() + "\nwhile True:\n    pass\n")
    monkeypatch.setenv("CHEFCHATZ_PLAN_STACK_TIMEOUT", "3")
    started = time.monotonic()
    run = chefchatz("plan", "--stack", "dev", "--project-dir", str(project))
    assert run.code == 3, (run.stdout, run.stderr)
    assert "stack 'dev'" in run.stderr and "longer than 3 s" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, "one line; the traceback only with --debug"
    assert time.monotonic() - started < 120, "stopped by the cap, not by the test's own timeout"
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr

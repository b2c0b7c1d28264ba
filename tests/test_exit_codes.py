"""Exit codes mean one thing: 2 is invalid input of any kind, always one message naming the file or
key and never a traceback; 3 is an internal error (a bug), one line, the traceback only with
--debug. (0 and 1, no violation and a mandatory violation, are `test_plan.py`'s and
`test_plan_floors.py`'s.)"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import ops.plan
from ops import cli
from tests.plan.test_plan import chefchatz, project_copy, set_config


def _replace_stack_file(stack: str, text: str) -> Callable[[Path], list[str]]:
    def edit(project: Path) -> list[str]:
        (project / f"Pulumi.{stack}.yaml").write_text(text)
        return []

    return edit


def _edit_project_file(old: str, new: str) -> Callable[[Path], list[str]]:
    def edit(project: Path) -> list[str]:
        path = project / "Pulumi.yaml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
        return []

    return edit


def _remove(name: str) -> Callable[[Path], list[str]]:
    def edit(project: Path) -> list[str]:
        (project / name).unlink()
        return []

    return edit


def _config(stack: str, key: str, value: str) -> Callable[[Path], list[str]]:
    def edit(project: Path) -> list[str]:
        set_config(project, stack, key, value)
        return []

    return edit


def _plain_line(stack: str, line: str) -> Callable[[Path], list[str]]:
    def edit(project: Path) -> list[str]:
        path = project / f"Pulumi.{stack}.yaml"
        path.write_text(path.read_text() + line + "\n")
        return []

    return edit


def _pack_config(text: str) -> Callable[[Path], list[str]]:
    def edit(project: Path) -> list[str]:
        path = project / "pack-config.json"
        path.write_text(text)
        return ["--policy-pack-config", str(path)]

    return edit


def _flags(*flags: str) -> Callable[[Path], list[str]]:
    return lambda project: list(flags)


@dataclass(frozen=True)
class Malformed:
    stack: str
    edit: Callable[[Path], list[str]]
    # What the one error message must name: the file, the key or the flag.
    named: str


MALFORMED: dict[str, Malformed] = {
    "stack-file-not-yaml": Malformed(
        "prod", _replace_stack_file("prod", "config:\n  chefchatz:domain: [chefchatz.com\n"), "Pulumi.prod.yaml"
    ),
    "stack-file-a-list": Malformed("staging", _replace_stack_file("staging", "- a\n- b\n"), "Pulumi.staging.yaml"),
    "stack-config-a-string": Malformed("dev", _replace_stack_file("dev", "config: everything\n"), "Pulumi.dev.yaml"),
    "project-file-not-yaml": Malformed(
        "prod", _edit_project_file("name: chefchatz", "name: [chefchatz"), "Pulumi.yaml"
    ),
    "project-without-name": Malformed("prod", _edit_project_file("name: chefchatz\n", ""), "Pulumi.yaml: 'name'"),
    "project-unknown-type": Malformed(
        "dev",
        _edit_project_file("  domain:\n    type: string", "  domain:\n    type: hostname"),
        "config.domain",
    ),
    "project-default-of-wrong-type": Malformed(
        "dev",
        _edit_project_file("    default: 1%\n", "    default: [1%]\n"),
        "config.rollbackErrorRate",
    ),
    "project-file-missing": Malformed("prod", _remove("Pulumi.yaml"), "Pulumi.yaml"),
    "interval-the-platform-cannot-do": Malformed(
        "prod", _config("prod", "healthCheckInterval", "5m"), "chefchatz:healthCheckInterval"
    ),
    "interval-not-a-duration": Malformed(
        "dev", _config("dev", "healthCheckInterval", "soon"), "chefchatz:healthCheckInterval"
    ),
    "timeout-not-inside-interval": Malformed(
        "staging", _config("staging", "healthCheckTimeout", "30s"), "healthCheckTimeout"
    ),
    "tool-commit-empty-outside-git": Malformed(
        "prod", _config("prod", "opsToolCommit", '""'), "chefchatz:opsToolCommit"
    ),
    "tool-commit-not-a-commit": Malformed("prod", _config("prod", "opsToolCommit", "abc"), "chefchatz:opsToolCommit"),
    "backup-frequency-unschedulable": Malformed(
        "staging", _config("staging", "backupDatabaseFrequency", "5h"), "chefchatz:backupDatabaseFrequency"
    ),
    "apdex-above-one": Malformed("prod", _config("prod", "sloApdex", '"1.5"'), "chefchatz:sloApdex"),
    "error-rate-not-a-percentage": Malformed(
        "dev", _config("dev", "rollbackErrorRate", "lots"), "chefchatz:rollbackErrorRate"
    ),
    "misspelt-key": Malformed("prod", _config("prod", "rollbackErrorRates", "1%"), "chefchatz:rollbackErrorRates"),
    "boolean-as-text": Malformed("dev", _config("dev", "featureDebug", "enabled"), "chefchatz:featureDebug"),
    "unknown-notification-kind": Malformed(
        "prod", _config("prod", "rollbackNotifications", '["pager:42"]'), "chefchatz:rollbackNotifications"
    ),
    "tls-version-unknown": Malformed(
        "prod", _config("prod", "tlsMinimumVersion", "TLS1.0"), "chefchatz:tlsMinimumVersion"
    ),
    "replica-region-not-a-region": Malformed(
        "prod", _config("prod", "backupReplicaRegion", "mars-1"), "chefchatz:backupReplicaRegion"
    ),
    "secret-in-plain-text": Malformed(
        "staging", _plain_line("staging", "  chefchatz:openaiApiKey: not-a-real-key"), "chefchatz:openaiApiKey"
    ),
    "production-domain-not-an-apex": Malformed(
        "prod", _config("prod", "domain", "www.chefchatz.com"), "chefchatz:domain"
    ),
    "pack-config-missing": Malformed("prod", _flags("--policy-pack-config", "/nonexistent/pack.json"), "pack.json"),
    "pack-config-not-json": Malformed("prod", _pack_config("{rollback"), "pack-config.json"),
    "pack-config-unknown-policy": Malformed("prod", _pack_config('{"no-such-policy": "advisory"}'), "no-such-policy"),
    "pack-config-wrong-type": Malformed(
        "prod", _pack_config('{"rollback-trigger-floors": {"errorRate": 2}}'), "rollback-trigger-floors.errorRate"
    ),
    "pack-config-unknown-property": Malformed(
        "prod", _pack_config('{"tls-floors": {"minimumTLS": "TLS1.1"}}'), "tls-floors.minimumTLS"
    ),
    "pack-config-bad-level": Malformed("prod", _pack_config('{"all": "strict"}'), "'strict'"),
    "unknown-stack": Malformed("qa", _flags(), "unknown stack 'qa'"),
    "unknown-format": Malformed("prod", _flags("--format", "yaml"), "--format"),
}


def test_the_table_has_at_least_20_malformed_inputs() -> None:
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_exits_2_naming_the_file_or_key_without_a_traceback(tmp_path: Path, name: str) -> None:
    case = MALFORMED[name]
    project = project_copy(tmp_path)
    flags = case.edit(project)
    run = chefchatz("plan", "--stack", case.stack, "--project-dir", str(project), *flags)
    output = run.stdout + run.stderr
    assert run.code == 2, f"{name}: exit {run.code}\n{output[-2000:]}"
    assert case.named in output, f"{name}: {case.named!r} not named in\n{output[-2000:]}"
    assert "Traceback" not in output, f"{name}:\n{output[-2000:]}"


def test_the_json_output_of_invalid_input_carries_the_error_and_exit_2(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    set_config(project, "prod", "healthCheckInterval", "5m")
    run = chefchatz("plan", "--stack", "prod", "--format", "json", "--project-dir", str(project))
    assert run.code == 2 and run.json["exitCode"] == 2
    assert "chefchatz:healthCheckInterval" in run.json["stacks"][0]["configError"]
    assert "'5m'" in run.json["stacks"][0]["configError"], "the value as written, not the converted number"


# --- internal errors ---------------------------------------------------------------------------------


def _bug(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("injected: a bug in the plan")


@pytest.mark.parametrize("debug", [False, True])
def test_an_injected_internal_error_exits_3_with_one_line_and_the_traceback_only_with_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], debug: bool
) -> None:
    monkeypatch.setattr(ops.plan, "run_plan", _bug)
    argv = ["chefchatz", *(["--debug"] if debug else []), "plan", "--stack", "dev"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: injected: a bug in the plan" in err
    if debug:
        assert "Traceback (most recent call last)" in err and "_bug" in err
    else:
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err


def test_a_bug_in_the_program_exits_3_not_1(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    main = project / "__main__.py"
    main.write_text(main.read_text() + "\nraise ZeroDivisionError('a bug in the program')\n")
    run = chefchatz("plan", "--stack", "dev", "--project-dir", str(project))
    assert run.code == 3, run.stdout[-1000:] + run.stderr[-2000:]
    assert "internal error" in run.stderr and "ZeroDivisionError" in run.stderr
    assert "Traceback" not in run.stderr
    debug = chefchatz("--debug", "plan", "--stack", "dev", "--project-dir", str(project))
    assert debug.code == 3 and "Traceback" in debug.stderr and "a bug in the program" in debug.stderr


def test_every_command_declares_the_shared_exit_codes_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code, meaning in (("0", "ok"), ("1", "failed"), ("2", "invalid input"), ("3", "internal error")):
        assert f"| {code} |" in table and meaning in table.lower(), f"README exit-code table lacks {code} {meaning}"


def test_the_readme_table_is_the_shared_exit_statuses_and_every_command_uses_them() -> None:
    from ops import ExitStatus
    from ops.rollback import ExitCode as RollbackExit
    from ops.rollout import ExitCode as RolloutExit

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [str(status.value) for status in ExitStatus], "one README row per shared exit status"
    # A command's own names for its outcomes are the shared statuses, never a number of its own.
    for command in (RollbackExit, RolloutExit):
        assert {member.value for member in command} <= {status.value for status in ExitStatus}, command
    assert RollbackExit.ROLLED_BACK == RolloutExit.ABORTED == ExitStatus.BACK_ON_EARLIER
    assert RollbackExit.NOTIFIED == ExitStatus.NOTIFIED and RolloutExit.HELD == ExitStatus.HELD

"""Reading the YAML and JSON documents the tools are handed: stack files, `Pulumi.yaml`, pack configs,
evidence reports. Each comes from a pull request or a person, so none may hold the process hostage.

- Size: a document over `MAX_DOCUMENT_BYTES` is refused before it is read.
- YAML aliases (`*name`) are refused: a few hundred bytes of nested aliases expand exponentially
  (nine levels of nine aliases are 387 million leaves) wherever the value is copied or serialized, as
  the program's configuration is. The Pulumi CLI refuses excessive aliasing too; stack files and
  project files have no need for them.
- JSON nested deeper than Python can decode is a bad document, not a crash.

Every refusal is a `DocumentError` naming the file (and the line, for YAML), which the commands
report as bad input (exit 2). Standard library and PyYAML only.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

# Far above any stack file, project file, pack config or report of this project (the largest is
# Pulumi.yaml at ~12 KiB), far below what would slow a parser down.
MAX_DOCUMENT_BYTES = 1024 * 1024

# libyaml's parser when PyYAML was built with it (the wheels are): the same documents, faster.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DocumentError(ValueError):
    """A document that cannot be accepted; the message names the file and what is wrong."""


def read_document(path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """The text of `path` if it is a regular file of at most `max_bytes` of UTF-8.

    The size is what is read, not what `stat` claims: a link to a device or a pipe (`/dev/zero`,
    whose size is 0) is refused as not a regular file, and no read goes past the limit.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise DocumentError(f"{path}: not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentError(f"{path}: over the {max_bytes}-byte limit for this document")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def refuse_aliases(text: str, where: str) -> None:
    """Raise DocumentError at the first YAML alias of `text` (parsing events only: nothing expands)."""
    try:
        for event in yaml.parse(text, Loader=SAFE_LOADER):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise DocumentError(
                    f"{where}: line {line}: YAML alias *{event.anchor} is not accepted "
                    "(aliases can expand a small file exponentially); write the value out"
                )
    except yaml.YAMLError:
        return  # a syntax error: the loader reports it with its position


def load_yaml(text: str, where: str) -> Any:
    """`text` as YAML without aliases. yaml.YAMLError (syntax) is left to the caller, who knows how
    to name the position; aliases are a DocumentError."""
    refuse_aliases(text, where)
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a SafeLoader


def load_json(text: str, where: str) -> Any:
    """`text` as JSON; malformed or too deeply nested JSON is a DocumentError naming `where`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise DocumentError(f"{where}: JSON nested too deeply to read") from None

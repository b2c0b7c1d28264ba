"""What a client reads from an answer: recorded while its parsing code runs, and scanned from its source.

The recording (``Reads``) gives the field paths the code looked up on the answers it was given; the scan
(``keys_in_source``) gives every string key the code's source looks up, including on branches no answer took.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from typing import Any


class Reads(dict[str, Any]):
    """A response object that records every field the parsing code looks up, by its path in the response.

    ``rename`` makes one field path read under another name, as a client that misreads the schema would.
    """

    def __init__(self, data: dict[str, Any], path: str, seen: set[str], rename: str = "") -> None:
        super().__init__(data)
        self.path, self.seen, self.rename = path, seen, rename

    def _path(self, key: str) -> str:
        path = f"{self.path}.{key}" if self.path else key
        return f"{path}Renamed" if path == self.rename else path

    def _wrap(self, key: str, value: Any) -> Any:
        path = self._path(key)
        if isinstance(value, dict):
            return Reads(value, path, self.seen, self.rename)
        if isinstance(value, list):
            return [Reads(v, f"{path}[]", self.seen, self.rename) if isinstance(v, dict) else v for v in value]
        return value

    def __getitem__(self, key: str) -> Any:
        self.seen.add(self._path(key))
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.seen.add(self._path(key))
        return self._wrap(key, super().get(key, default))

    def __contains__(self, key: object) -> bool:
        self.seen.add(self._path(str(key)))
        return super().__contains__(key)


def keys_in_source(function: Callable[..., Any]) -> set[str]:
    """Every string key ``function``'s source looks up: ``x["key"]`` and ``x.get("key", ...)``."""
    found = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(function)))):
        key: ast.expr | None
        if isinstance(node, ast.Subscript):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            key = node.args[0] if node.args else None
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
    return found


def unlisted_keys(keys: Iterable[str], listed: Iterable[str]) -> list[str]:
    """The keys that are no listed path's last field (``method`` is that of ``requestContext.http.method``)."""
    last = {path.replace("[]", "").rsplit(".", 1)[-1] for path in listed}
    return sorted(set(keys) - last)

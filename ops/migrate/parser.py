"""The Supabase CLI's statement splitter, ported state for state: files split as `db push` splits them.

`supabase db push` does not parse SQL: a small state machine (``pkg/parser/state.go``) driven by a
byte scanner (``pkg/parser/token.go``) cuts the file at every ``;`` outside quotes, dollar quotes,
comments, parentheses and ``BEGIN ATOMIC ... END``, and ``SplitAndTrim`` strips each piece's trailing
semicolons and surrounding white space. Every non-empty piece - a comment on its own included - is
sent as one statement and recorded in ``schema_migrations.statements``. The rehearsal must cut
exactly where the CLI cuts, quirks included, so this module follows the Go code, not SQL's grammar:

- the scanner advances one *byte* at a time while decoding a whole rune at each position, so the
  continuation bytes of a multi-byte character are seen as U+FFFD (``for width := 1; ...; t.last +=
  width`` with ``width`` shadowed in the loop body): ``$é$`` is not a dollar-quote tag;
- ``(`` and ``BEGIN ATOMIC`` open a state that the *first* ``)`` or ``END`` closes, nesting or not
  (a ``CASE ... END`` inside an atomic body ends it);
- a backslash outside quotes escapes the next byte; inside quotes it is an ordinary character.

Source: github.com/supabase/cli at v2.104.0 (``apps/cli-go/pkg/parser/state.go``, ``token.go``).
"""

from __future__ import annotations

# Go's unicode.IsSpace (Latin-1 spaces and the Unicode White_Space property). Python's str.isspace
# also counts U+001C..U+001F, which Go does not trim.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
RUNE_ERROR = "\ufffd"
# The token so far, a view into the file's bytes: slicing it copies nothing, so long tokens stay linear.
Data = bytes | memoryview
BEGIN_ATOMIC = b"ATOMIC"
END_ATOMIC = b"END"


class _State:
    def next(self, rune: str, data: Data) -> _State | None:
        """The state after ``rune``; None emits the token (``data``: the token so far, rune included)."""
        raise NotImplementedError


class _Ready(_State):
    def next(self, rune: str, data: Data) -> _State | None:
        if rune == "$":
            return _Tag(len(data) - len(rune.encode()))
        if rune in "'\"":
            return _Quote(rune)
        if rune == "-":
            return _Comment()
        if rune == "/":
            return _Block()
        if rune == "\\":
            return _Escape()
        if rune == ";":
            return None
        if rune == "(":
            return _Atomic(self, b")")
        if rune in "cC" and _is_begin_atomic(data):
            return _Atomic(self, END_ATOMIC)
        return self


def _fold_equal(window: Data, word: bytes) -> bool:
    # Go's strings.EqualFold; the words here are ASCII letters with no non-ASCII case variants.
    window = bytes(window)
    return window.isascii() and window.upper() == word


def _last_rune(data: Data) -> str:
    return bytes(data[-4:]).decode("utf-8", "replace")[-1] if len(data) else RUNE_ERROR


def _is_begin_atomic(data: Data) -> bool:
    offset = len(data) - len(BEGIN_ATOMIC)
    if offset < 0 or not _fold_equal(data[offset:], BEGIN_ATOMIC):
        return False
    if offset > 0 and _is_identifier_rune(_last_rune(data[:offset])):
        return False
    prefix = bytes(data[:offset]).decode("utf-8", "replace").rstrip(GO_SPACE).encode()
    offset = len(prefix) - len(b"BEGIN")
    if offset < 0 or not _fold_equal(prefix[offset:], b"BEGIN"):
        return False
    return offset == 0 or not _is_identifier_rune(_last_rune(prefix[:offset]))


def _is_letter_or_digit(rune: str) -> bool:
    # Go's unicode.IsLetter (category L*) and unicode.IsDigit (Nd).
    return rune.isalpha() or rune.isdecimal()


def _is_identifier_rune(rune: str) -> bool:
    return _is_letter_or_digit(rune) or rune in "_$"


class _Comment(_State):
    """After one ``-``: a second one opens a line comment, anything else is ordinary SQL."""

    def next(self, rune: str, data: Data) -> _State | None:
        if rune == "-":
            return _Dollar(b"\n")
        return _Ready().next(rune, data)


class _Block(_State):
    """After ``/``: ``/*`` opens a (nestable) block comment."""

    def __init__(self) -> None:
        self.depth = 0

    def next(self, rune: str, data: Data) -> _State | None:
        window = data[-2:]
        if window == b"/*":
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().next(rune, data)
        if window == b"*/":
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


class _Quote(_State):
    """Inside '...' or "...": a doubled delimiter stays inside."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.escape = False

    def next(self, rune: str, data: Data) -> _State | None:
        if self.escape:
            if rune == self.delimiter:
                self.escape = False
                return self
            return _Ready().next(rune, data)
        if rune == self.delimiter:
            self.escape = True
        return self


class _Dollar(_State):
    """Inside a dollar quote (or a line comment, delimited by a newline): nothing is escaped."""

    def __init__(self, delimiter: bytes) -> None:
        self.delimiter = delimiter

    def next(self, rune: str, data: Data) -> _State | None:
        if data[len(data) - len(self.delimiter) :] == self.delimiter:
            return _Ready()
        return self


class _Tag(_State):
    """After ``$``: letters, digits and ``_`` up to the next ``$`` make a dollar-quote tag."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def next(self, rune: str, data: Data) -> _State | None:
        if rune == "$":
            return _Dollar(bytes(data[self.offset :]))
        if _is_letter_or_digit(rune) or rune == "_":
            return self
        return _Ready().next(rune, data)


class _Escape(_State):
    def next(self, rune: str, data: Data) -> _State | None:
        return _Ready()


class _Atomic(_State):
    """Inside ``( ... )`` or ``BEGIN ATOMIC ... END``: separators do not split until the delimiter."""

    def __init__(self, prev: _State, delimiter: bytes) -> None:
        self.prev = prev
        self.delimiter = delimiter

    def next(self, rune: str, data: Data) -> _State | None:
        current = self.prev.next(rune, data)
        if current is not None:
            self.prev = current
        if isinstance(self.prev, _Ready) and _fold_equal(data[len(data) - len(self.delimiter) :], self.delimiter):
            return _Ready()
        return self


def _rune_at(raw: bytes, index: int) -> tuple[str, int]:
    """Go's utf8.DecodeRune at ``index``: the rune and its width; U+FFFD, 1 on a continuation byte."""
    lead = raw[index]
    if lead < 0x80:
        return chr(lead), 1
    width = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
    if width:
        try:
            return raw[index : index + width].decode("utf-8"), width
        except UnicodeDecodeError:
            pass
    return RUNE_ERROR, 1


def split(text: str) -> list[str]:
    """``parser.Split``: the pieces as they are (separator, comments and white space kept), empty ones dropped."""
    raw = text.encode("utf-8")
    view = memoryview(raw)
    tokens: list[str] = []
    state: _State = _Ready()
    start = 0
    for index in range(len(raw)):
        rune, width = _rune_at(raw, index)
        end = index + width
        following = state.next(rune, view[start:end])
        if following is None:
            tokens.append(raw[start:end].decode("utf-8"))
            start = end
            state = _Ready()
        else:
            state = following
    if start < len(raw):
        tokens.append(raw[start:].decode("utf-8"))
    return tokens


def split_and_trim(text: str) -> list[str]:
    """``parser.SplitAndTrim``: each piece without its trailing semicolons and surrounding white space."""
    trimmed = (token.rstrip(";").strip(GO_SPACE) for token in split(text))
    return [statement for statement in trimmed if statement]

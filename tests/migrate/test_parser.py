"""The statement splitter cuts where the Supabase CLI's parser cuts (github.com/supabase/cli v2.104.0).

``test_split_matches_the_clis_own_cases`` is ``apps/cli-go/pkg/parser/state_test.go`` case for case:
each case is the list of pieces the CLI's ``Split`` returns for their concatenation. The other tests
pin what `db push` then sends and records (``SplitAndTrim``), quirks included.
"""

from __future__ import annotations

import pytest

from ops.migrate import split_statements
from ops.migrate.parser import split

FUNCTION_WITH_BODY = """CREATE OR REPLACE FUNCTION {name}()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  NULL;
END;
$$;"""

CLI_CASES = {
    # TestLineComment
    "line comment after separator": ["END;", "-- comment"],
    "line comment before separator": ["SELECT --; 1"],
    "line comment not started": ["- ;", "END"],
    "line comment between lines": ["-- /* \n;", " */ END"],
    # TestBlockComment
    "block comment contains separator": ["SELECT /* ; */ 1;"],
    "nested block comment": ["SELECT /*; /*;*/ ;*/ 1"],
    "block comment not started": ["/ * ;", " */ END"],
    # TestSeparator
    "separator without spaces": [";", "END;", ";"],
    "separator between spaces": ["BEGIN   ;", "  END"],
    "backslash escapes a separator": ["\\;;", "\\;"],
    # TestDollarQuote
    "named dollar tag": ["$tag$ any ; string$tag$"],
    "anonymous dollar tag": ['$$"Dane\'s horse"$$'],
    "dollar quote not started": ['SELECT "$";', " $$"],
    # TestSingleQuote
    "single quote escapes separator": ["SELECT ';' 1"],
    "single quote preserves doubled quote": ["SELECT ';'';' 1"],
    "backslash in single quotes is literal": ["SELECT '\\';", " 1'"],
    # TestDoubleQuote
    "double quote escapes separator": ['CREATE POLICY "cats;dogs" on cats_dogs;', " END"],
    "double quote preserves single quote": ["CREATE POLICY \"cat's and dog's\" on cats_dogs;", " END"],
    "double quote preserves doubled quote": ['CREATE POLICY "pet""name" on pets;', " END"],
    # TestParentheses
    "parentheses keep a rule's actions together": [
        'CREATE RULE notify_me AS ON UPDATE TO mytable DO (NOTIFY mytable; SELECT "1");',
        "SELECT 1",
    ],
    "parentheses ignore literals": ["CREATE RULE notify_me AS ON UPDATE TO mytable DO (-- )\nSELECT ')';\n-- )\n)\n"],
    # TestBeginAtomic
    "begin atomic inline body": [
        "CREATE FUNCTION add(a integer, b integer) RETURNS integer\nLANGUAGE SQL\n"
        "IMMUTABLE STRICT PARALLEL SAFE\nRETURNS NULL ON NULL INPUT\nBEGIN ATOMIC\n"
        "\tSELECT 'add';\n\tSELECT a + b;\nEND;"
    ],
    "begin atomic case insensitive": ["begin atomic; select 'end'; end"],
    "begin atomic ignores literals": ["CREATE FUNCTION test() BEGIN\nATOMIC-- END;\n-- END;\nEND\n;"],
    **{
        f"atomic in identifier {name}": [FUNCTION_WITH_BODY.format(name=name), "\nSELECT 1;"]
        for name in ("fn_atomic", "atomic_fn", "my_atomic_thing", "xatomicx", "fn_ATomiC")
    },
    "schema-qualified atomic function name is not begin atomic": [
        "CREATE OR REPLACE FUNCTION public.atomic_example()\nRETURNS INTEGER\nLANGUAGE plpgsql\nAS $$\n"
        "BEGIN\n  RETURN 1;\nEND;\n$$;",
        "\nGRANT EXECUTE ON FUNCTION public.atomic_example() TO authenticated;",
    ],
}


@pytest.mark.parametrize("pieces", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_split_matches_the_clis_own_cases(pieces: list[str]) -> None:
    assert split("".join(pieces)) == pieces


@pytest.mark.parametrize(
    ("sql", "statements"),
    [
        # Trailing semicolons and surrounding white space go; the rest of the piece stays as written.
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1 ;;\n", ["SELECT 1"]),
        ("-- Example migration\nCREATE TABLE t (id int);\n", ["-- Example migration\nCREATE TABLE t (id int)"]),
        # A comment after the last semicolon is a statement of its own: sent (an empty query) and recorded.
        ("SELECT 1; -- trailing; comment\n", ["SELECT 1", "-- trailing; comment"]),
        ("CREATE TABLE t (id int);\n/* the end */\n", ["CREATE TABLE t (id int)", "/* the end */"]),
        (";;  \n", []),
        # BEGIN ATOMIC ... END is one statement, its END the first one after it.
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nSELECT 2;",
            ["CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND", "SELECT 2"],
        ),
        # ... so a CASE ... END inside the body ends it early, as in the CLI.
        (
            "CREATE FUNCTION g(t bool) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN t THEN 1 END; END;",
            ["CREATE FUNCTION g(t bool) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN t THEN 1 END", "END"],
        ),
        # The first ")" closes every open parenthesis.
        ("SELECT ((1); SELECT 2;", ["SELECT ((1)", "SELECT 2"]),
        # Dollar quotes keep their semicolons; a backslash inside quotes escapes nothing.
        (
            "DO $body$ BEGIN PERFORM 1; END $body$; SELECT 2;",
            ["DO $body$ BEGIN PERFORM 1; END $body$", "SELECT 2"],
        ),
        ("SELECT E'\\';'; SELECT 2;", ["SELECT E'\\'", "'; SELECT 2"]),
        ("SELECT $1::int;", ["SELECT $1::int"]),
        # The scanner sees a multi-byte character's continuation bytes as U+FFFD: no such tag.
        ("DO $é$ BEGIN PERFORM 1; END $é$;", ["DO $é$ BEGIN PERFORM 1", "END $é$"]),
        ("SELECT 'é;'; SELECT 2;", ["SELECT 'é;'", "SELECT 2"]),
        # Go's TrimSpace keeps U+001F, which Python's strip() would drop.
        ("\x1fSELECT 1;\u3000", ["\x1fSELECT 1"]),
    ],
)
def test_db_push_sends_and_records_each_piece_without_its_semicolons(sql: str, statements: list[str]) -> None:
    assert split_statements(sql) == statements


def test_a_long_statement_splits_in_linear_time() -> None:
    # The CLI raises its scanner's limit to the file's size: a 2 MB statement (geodata) is one statement.
    statement = "INSERT INTO shapes VALUES ('" + "0" * 2_000_000 + "')"
    assert split_statements(statement + ";\nSELECT 1;") == [statement, "SELECT 1"]


def test_a_file_is_split_from_its_bytes_as_the_cli_reads_it_not_with_newlines_translated(tmp_path) -> None:
    from ops.migrate.files import MigrationFile, read_statements

    # A `--` comment ended by a lone CR does not end for the CLI's parser: the next statement is part
    # of the comment's line, as `db push` would send it. Python's text mode would turn the CR into LF.
    path = tmp_path / "20260101000000_x.sql"
    path.write_bytes(b"-- note\rcreate table a (id int);\r\ncreate table b (id int);\r\n")
    statements = read_statements(MigrationFile("20260101000000", "x", path))
    assert statements == split_statements(path.read_bytes().decode("utf-8"))
    assert "\r" in statements[0], statements

"""Backlog files in, results out: read_csv and the exports, no network.

Every file here is written by the test itself, in the layouts that Jira,
Azure DevOps and GitHub export and that people type by hand.
"""

from __future__ import annotations

import csv
import io

import pytest

import poker

BOM = "\ufeff"


def stories(data: bytes) -> list[tuple[str, str]]:
    """(key, title) of each story a file gives, with the columns guessed."""
    table = poker.read_csv(data)
    found = poker.table_stories(table, table.title, table.key, table.description)
    return [(s.key, s.title) for s in found]


def problem(data: bytes) -> poker.ImportProblem:
    """The problem read_csv (or the stories step) finds in *data*."""
    with pytest.raises(poker.ImportProblem) as caught:
        stories(data)
    return caught.value


# ---------------------------------------------------------------- layouts

JIRA = (
    "Summary,Issue key,Issue id,Issue Type,Status,Description,Sprint,Sprint\r\n"
    'Log in with SSO,PROJ-1,10001,Story,To Do,"As a user,\r\nI want SSO",S1,S2\r\n'
    '"Export, as CSV",PROJ-2,10002,Story,To Do,,S1,\r\n'
)
AZURE = (
    "ID,Work Item Type,Title,Assigned To,State,Tags\n"
    "4711,User Story,Search by tag,Ada,New,search\n"
    '4712,Bug,"Crash on ""Save""",Bob,Active,\n'
)
GITHUB = (
    "Title,URL,Assignees,Status,Labels\n"
    "Dark mode,https://github.com/acme/app/issues/7,ada,Todo,ui\n"
    "Faster start,https://github.com/acme/app/issues/9,,Todo,\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Jira: Summary and Issue key; a description with a comma and a line
        # break inside quotes; a repeated Sprint column.
        (JIRA, [("PROJ-1", "Log in with SSO"), ("PROJ-2", "Export, as CSV")]),
        # Azure DevOps: Title and ID; doubled quotes inside a quoted field.
        (AZURE, [("4711", "Search by tag"), ("4712", 'Crash on "Save"')]),
        # GitHub issues: Title and the URL as the link.
        (
            GITHUB,
            [
                ("https://github.com/acme/app/issues/7", "Dark mode"),
                ("https://github.com/acme/app/issues/9", "Faster start"),
            ],
        ),
        # A plain list, one title a line, no header at all.
        ("Login\nExport\n\nSearch\n", [("", "Login"), ("", "Export"), ("", "Search")]),
        # A plain list under a header that says what it is.
        ("Title\nLogin\nExport\n", [("", "Login"), ("", "Export")]),
        # Excel in much of Europe: a BOM and semicolons, a comma in a title.
        (
            f'{BOM}Key;Title\nA-1;Grüße, Köln\nA-2;"Semi;colon"\n',
            [("A-1", "Grüße, Köln"), ("A-2", "Semi;colon")],
        ),
        # Tabs, as a copy from a spreadsheet saves them.
        (
            "Key\tSummary\nT-1\tTabbed, with a comma\n",
            [("T-1", "Tabbed, with a comma")],
        ),
        # A title broken over two lines inside quotes becomes one line.
        ('Title,Key\n"Two\nlines",K-1\n', [("K-1", "Two lines")]),
        # Emoji and a BOM with commas.
        (f"{BOM}Title,Key\n🚀 Launch,L-1\n", [("L-1", "🚀 Launch")]),
        # Old Mac line ends.
        ("Title,Key\rA,1\rB,2\r", [("1", "A"), ("2", "B")]),
    ],
)
def test_each_export_layout_gives_its_stories(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert stories(text.encode()) == expected


def test_a_jira_description_keeps_its_line_break() -> None:
    table = poker.read_csv(JIRA.encode())

    found = poker.table_stories(table, table.title, table.key, table.description)

    assert found[0].description == "As a user,\nI want SSO"


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),  # commas
        ("a;b;c\n1;2;3\n", ";"),  # semicolons
        ("a\tb\tc\n1\t2\t3\n", "\t"),  # tabs
        ('a;b\n"1,5";"2,5"\n"3,5";"4,5"\n', ";"),  # decimal commas in quotes
        ("Title\nOne, two\nThree\n", ","),  # one column: nothing splits evenly
    ],
)
def test_the_delimiter_is_the_one_that_splits_evenly(text: str, delimiter: str) -> None:
    assert poker.sniff_delimiter(text) == delimiter


def test_columns_with_unknown_names_are_not_obvious() -> None:
    table = poker.read_csv(b"Foo,Bar\nLogin,PROJ-1\n")

    assert (table.obvious, table.title, table.key) == (False, 0, None)


def test_the_facilitator_picks_other_columns() -> None:
    table = poker.read_csv(b"Foo,Bar\nPROJ-1,Login\n")

    found = poker.table_stories(table, 1, 0, None)

    assert [(s.key, s.title) for s in found] == [("PROJ-1", "Login")]


def test_rows_with_no_title_are_left_out() -> None:
    assert stories(b"Title,Key\nA,1\n,2\n  ,3\n") == [("1", "A")]


def test_a_long_description_is_cut_not_refused() -> None:
    text = f"Title,Description\nA,{'x' * 5000}\n"
    table = poker.read_csv(text.encode())

    (story,) = poker.table_stories(table, 0, None, 1)

    assert len(story.description) == poker.MAX_DESCRIPTION
    assert story.description.endswith("…")


def test_a_five_thousand_row_file_imports_whole() -> None:
    lines = ["Issue key,Summary"] + [f"K-{n},Story number {n}" for n in range(5000)]

    found = stories("\n".join(lines).encode())

    assert len(found) == 5000
    assert found[4999] == ("K-4999", "Story number 4999")


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("data", "line", "says"),
    [
        (b"", 1, "empty"),  # nothing at all
        (BOM.encode(), 1, "empty"),  # only a byte order mark
        (b"\n\n  \n", 1, "empty"),  # only blank lines
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            3,
            "binary",
        ),  # a PNG picture: its first NUL byte after two line feeds
        ("Title\nGrüße\n".encode("latin-1"), 2, "not UTF-8"),  # latin-1 on line 2
        (b'Title,Key\nA,1\n"B,2\nC,3\n', 3, "not valid CSV"),  # a quote never closed
        (b'Title,Key\nA,1\n"B"x,2\n', 3, "not valid CSV"),  # text after a quote
        (b"Title,Key\nA,1\nB,2,3\n", 3, "3 fields"),  # a field too many
        (b"Title,Key\n,1\n", 0, "No row"),  # no row has a title
        (f"Title\n{'x' * 501}\n".encode(), 2, "too long"),  # a title over 500
    ],
)
def test_a_bad_file_names_the_problem_and_its_line(
    data: bytes, line: int, says: str
) -> None:
    found = problem(data)

    assert (found.line, says in str(found)) == (line, True), str(found)


def test_more_stories_than_a_backlog_holds_are_refused() -> None:
    text = "Title\n" + "\n".join(f"S{n}" for n in range(poker.MAX_BACKLOG + 1))

    assert "at most" in str(problem(text.encode()))


# ---------------------------------------------------------------- export


def played() -> poker.Game:
    """Two Sams and Ada estimated two backlog stories; one is re-voted."""
    game = poker.Game.new("Sprint 42")
    ada = game.join("Ada")[0].id
    sam1 = game.join("Sam")[0].id
    sam2 = game.join("Sam")[0].id
    titles = [("PROJ-1", "Log in, with SSO"), ("PROJ-2", 'Say "hi"'), ("", "Later")]
    game.add_stories(ada, [poker.Game.make_story(t, k) for k, t in titles])
    game.next_story(ada)
    for seat, card in ((ada, "3"), (sam1, "13"), (sam2, "8")):
        game.vote(seat, card)
    game.new_round(ada)  # a re-vote of PROJ-1
    for seat, card in ((ada, "8"), (sam1, "8"), (sam2, "8")):
        game.vote(seat, card)
    game.record_estimate(ada, "8")
    game.next_story(ada)
    for seat, card in ((ada, "1"), (sam1, "2"), (sam2, "?")):
        game.vote(seat, card)
    game.record_estimate(ada, "2")
    return game


def test_the_csv_export_has_a_bom_and_a_row_per_story() -> None:
    data = poker.export_csv(played())

    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [
        ["Key", "Title", "Final estimate", "Mean", "Median", "Consensus", "Rounds"]
        + ["Ada", "Sam", "Sam (2)"],
        ["PROJ-1", "Log in, with SSO", "8", "8", "8", "yes", "2", "8", "8", "8"],
        ["PROJ-2", 'Say "hi"', "2", "1.5", "1.5", "no", "1", "1", "2", "?"],
        ["", "Later", "", "", "", "", "0", "", "", ""],
    ]


def test_the_markdown_export_is_a_table_with_pipes_escaped() -> None:
    game = played()
    game.backlog[2].title = "A | B"

    text = poker.export_markdown(game)

    assert text.splitlines()[0] == "# Sprint 42"
    assert "| PROJ-1 | Log in, with SSO | 8 | 8 | 8 | yes | 2 | 8 | 8 | 8 |" in text
    assert "|   | A \\| B |" in text


def test_a_story_typed_for_a_round_is_exported_after_the_backlog() -> None:
    game = poker.Game.new("Sprint")
    ada = game.join("Ada")[0].id
    game.set_story(ada, "Typed story")
    game.vote(ada, "5")

    _, rows = poker.session_results(game)

    assert rows == [["", "Typed story", "", 5, 5, "no", 1, "5"]]


def test_export_then_import_gives_the_same_stories_back() -> None:
    game = played()

    again = stories(poker.export_csv(game))

    assert again == [(s.key, s.title) for s in game.backlog]


def test_players_named_like_columns_get_a_column_of_their_own() -> None:
    game = poker.Game.new("Sprint")
    ada = game.join("Title")[0].id
    game.set_story(ada, "Login")
    game.vote(ada, "5")

    header, _ = poker.session_results(game)

    assert header[7:] == ["Title (2)"]


def named_players(*names: str) -> poker.Game:
    """A backlog of two stories, the first voted on by players with *names*."""
    game = poker.Game.new("Sprint")
    seats = [game.join(name)[0].id for name in names]
    titles = [("PROJ-1", "Log in"), ("PROJ-2", "Export")]
    game.add_stories(seats[0], [poker.Game.make_story(t, k) for k, t in titles])
    game.next_story(seats[0])
    for seat in seats:
        game.vote(seat, "3")
    return game


def test_export_then_import_ignores_players_named_like_columns() -> None:
    game = named_players("Summary", "Title", "Description", "Key", "Issue key")

    table = poker.read_csv(poker.export_csv(game))

    assert (table.title, table.key, table.description) == (1, 0, None)
    assert stories(poker.export_csv(game)) == [
        ("PROJ-1", "Log in"),
        ("PROJ-2", "Export"),
    ]


# ---------------------------------------------------------------- formulas

FORMULAS = [
    '=HYPERLINK("http://x","y")',  # a link that runs when clicked
    "@SUM(1+1)",  # Lotus-style formula
    "+1+1",  # a sum
    "-2+3",  # a sum that starts like a negative number
    "'=already quoted",  # a quote typed before a formula stays typed
]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_exported_behind_a_quote(text: str) -> None:
    game = named_players(text)
    game.backlog[0].title = text
    game.backlog[0].key = text

    data = poker.export_csv(game).decode("utf-8-sig")

    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[0][7] == f"'{text}"  # the player's name
    assert rows[1][:2] == [f"'{text}", f"'{text}"]


@pytest.mark.parametrize(
    "card",
    [
        "-1",  # a negative number is a number, not a formula
        "+2",  # so is a number with its sign
        "-0.5",  # and a decimal one
    ],
)
def test_a_signed_number_is_exported_as_it_is(card: str) -> None:
    game = poker.Game.new("Sprint")
    ada = game.join("Ada")[0].id
    game.set_deck(ada, "custom", [card, "1"])
    game.set_story(ada, "Login")
    game.vote(ada, card)

    data = poker.export_csv(game).decode("utf-8-sig")

    assert data.splitlines()[1].endswith(f",{card}")


@pytest.mark.parametrize("text", FORMULAS)
def test_a_quoted_formula_imports_as_the_title_exported(text: str) -> None:
    game = named_players("Ada")
    game.backlog[0].title = text

    again = stories(poker.export_csv(game))

    assert again[0] == ("PROJ-1", text)


def test_a_quote_before_plain_text_is_kept_on_import() -> None:
    assert stories(b"Title\n'quoted\n") == [("", "'quoted")]


# ---------------------------------------------------------------- one title a line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A comma in a later title of a list with no header.
        (
            "Login\nAs a user, I want to log out\n",
            ["Login", "As a user, I want to log out"],
        ),
        # A comma in the first title: it is a title, not a header.
        (
            "As a user, I want to log in\nExport\n",
            ["As a user, I want to log in", "Export"],
        ),
        # A comma in a title under a Title header.
        ("Title\nOne, two\nThree\n", ["One, two", "Three"]),
        # A quoted title with a line break and a comma stays one title.
        ('Login\n"Two, lines\nof text"\n', ["Login", "Two, lines of text"]),
    ],
)
def test_a_list_of_titles_with_commas_gives_one_title_a_line(
    text: str, expected: list[str]
) -> None:
    assert [title for _, title in stories(text.encode())] == expected


def test_a_named_table_with_a_short_row_stays_a_table() -> None:
    assert stories(b"Title,Key\nA,1\nB\n") == [("1", "A"), ("", "B")]


def test_the_markdown_export_escapes_html_in_titles_and_names() -> None:
    game = named_players("<b>Bo</b>")
    game.backlog[0].title = "<img src=x onerror=alert(1)> & co"

    text = poker.export_markdown(game)

    assert "<" not in text
    assert ">" not in text
    assert "| &lt;img src=x onerror=alert(1)&gt; &amp; co |" in text
    assert "| &lt;b&gt;Bo&lt;/b&gt; |" in text

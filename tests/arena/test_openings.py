"""Opening books: the bundled suite, PGN and EPD files, and where games start."""

from __future__ import annotations

from pathlib import Path

import chess
import pytest

from arena.tournament.openings import (
    Opening,
    OpeningError,
    bundled_openings,
    load_openings,
    opening_start,
    parse_openings,
)
from games import get_game, replay

BUNDLED = bundled_openings()


def test_bundled_book_is_large_and_distinct() -> None:
    """At least 40 openings with distinct names, move sequences and final positions."""
    assert len(BUNDLED) >= 40
    assert len({o.name for o in BUNDLED}) == len(BUNDLED)
    assert len({o.moves for o in BUNDLED}) == len(BUNDLED)
    chess_rules = get_game("chess")
    positions = {chess_rules.encode_state(replay(chess_rules, o.moves)) for o in BUNDLED}
    assert len(positions) == len(BUNDLED)
    assert bundled_openings() is not bundled_openings()  # callers may edit their copy


@pytest.mark.parametrize("opening", BUNDLED, ids=[o.name for o in BUNDLED])
def test_bundled_opening_is_legal_and_open(opening: Opening) -> None:
    """Each bundled opening replays legally from the start and leaves the game undecided."""
    rules = get_game("chess")
    assert opening.fen is None
    assert 4 <= len(opening.moves) <= 10
    assert opening.name[:3].isalnum() and opening.name[3] == " "  # ECO code first
    state = replay(rules, opening.moves)
    assert rules.outcome(state) is None
    assert rules.legal_moves(state)
    assert opening_start("chess", opening) == (None, opening.moves)


PGN = """\
[Event "Book"]
[ECO "C65"]
[Opening "Ruy Lopez"]
[Variation "Berlin Defence"]

1. e4 e5 2. Nf3 Nc6 3. Bb5 Nf6 *

[Event "Ulvestad line"]

1. e4 e5 2. Nf3 Nc6 3. Bc4 Nf6 4. Ng5 d5 5. exd5 b5 *

[Event "?"]
[SetUp "1"]
[FEN "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1"]

1. e4 Kd7 *
"""


def test_load_pgn(tmp_path: Path) -> None:
    """A PGN book: each game's mainline in UCI, named by its headers, from its FEN if any."""
    path = tmp_path / "book.pgn"
    path.write_text(PGN)
    first, second, third = load_openings(path)
    assert first == Opening(
        "C65 Ruy Lopez: Berlin Defence",
        ("e2e4", "e7e5", "g1f3", "b8c6", "f1b5", "g8f6"),
    )
    assert second.name == "Ulvestad line"
    assert second.moves[-2:] == ("e4d5", "b7b5")
    assert third == Opening("book.pgn game 3", ("e2e4", "e8d7"), "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1")
    initial, moves = opening_start("chess", third)
    assert initial == "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1"
    assert moves == ("e2e4", "e8d7")


EPD = """\
# two positions from the Sicilian
rnbqkbnr/pp1ppppp/8/2p5/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - id "Sicilian";

r1bqkbnr/pp1ppppp/2n5/2p5/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - hmvc 2; fmvn 3;
"""


def test_load_epd(tmp_path: Path) -> None:
    """An EPD book: one start position a line, named by its id or its line number."""
    path = tmp_path / "book.epd"
    path.write_text(EPD)
    sicilian, other = load_openings(path)
    assert sicilian == Opening(
        "Sicilian", (), "rnbqkbnr/pp1ppppp/8/2p5/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - 0 1"
    )
    assert other.name == "book.epd:4"
    assert other.fen is not None and other.fen.endswith(" w KQkq - 2 3")
    rules = get_game("chess")
    initial, moves = opening_start("chess", other)
    assert moves == ()
    assert initial is not None and rules.decode_state(initial).fen == other.fen


def test_book_format_sniffed_from_content(tmp_path: Path) -> None:
    """A file without a .pgn or .epd suffix is read by what its first line looks like."""
    (tmp_path / "a.txt").write_text("1. d4 d5 2. c4 e6 *\n")
    (tmp_path / "b.txt").write_text(EPD)
    assert load_openings(tmp_path / "a.txt")[0].moves == ("d2d4", "d7d5", "c2c4", "e7e6")
    assert len(load_openings(tmp_path / "b.txt")) == 2


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.pgn", '[Event "Oops"]\n\n1. e4 e5 2. Ke3 *\n', r"bad\.pgn, game 1 \(Oops\).*Ke3"),
        ("empty.pgn", "\n", r"empty\.pgn: no openings found"),
        ("nomoves.pgn", '[Event "x"]\n\n*\n', r"game 1 \(x\): no moves"),
        ("mate.pgn", "1. f3 e5 2. g4 Qh4# *\n", r"game 1.*already over \(checkmate\)"),
        ("bad.epd", "8/8/8/8/8/8/8/8 w - -\nnot a position\n", r"bad\.epd, line 1.*no white king"),
        ("garbled.epd", "# ok\nrnbqkbnr/pppp w KQkq -\n", r"garbled\.epd, line 2: not an EPD"),
        ("stalemate.epd", "7k/5Q2/6K1/8/8/8/8/8 b - -\n", r"line 1.*already over \(stalemate\)"),
    ],
)
def test_bad_books_name_file_entry_and_problem(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    """A bad book is an OpeningError naming the file, the entry and what is wrong."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(OpeningError, match=message):
        load_openings(path)


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing file (or a directory) is an OpeningError naming the path."""
    with pytest.raises(OpeningError, match=r"cannot read opening file .*missing\.pgn"):
        load_openings(tmp_path / "missing.pgn")
    with pytest.raises(OpeningError, match="cannot read opening file"):
        load_openings(tmp_path)


def test_parse_openings_is_pure() -> None:
    """The parser works on text, with the source named in its errors."""
    (opening,) = parse_openings("1. c4 e5 *", "pgn", source="inline")
    assert opening.name == "inline game 1"
    with pytest.raises(OpeningError, match="inline: unknown opening format 'fen'"):
        parse_openings("", "fen", source="inline")  # type: ignore[arg-type]


def test_opening_start_rejects_other_games_and_bad_openings() -> None:
    """Only chess takes openings; an illegal opening names itself and the move."""
    opening = BUNDLED[0]
    assert opening_start("connect4", None) == (None, ())
    with pytest.raises(OpeningError, match="'connect4' takes no openings"):
        opening_start("connect4", opening)
    with pytest.raises(OpeningError, match=r"opening 'broken'.*e2e5"):
        opening_start("chess", Opening("broken", ("e2e4", "e2e5")))
    castled = Opening("castles", ("e1h1",), "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    assert opening_start("chess", castled)[1] == ("e1g1",)
    assert chess.Board(castled.fen).is_valid()

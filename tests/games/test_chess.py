"""Chess rules through the Game adapter: moves, automatic draws, FEN and PGN."""

from __future__ import annotations

import io

import chess
import chess.pgn
import pytest

from games import IllegalMoveError, InvalidStateError, Outcome, replay
from games.chess import ChessGame, ChessState, moves_from_pgn, to_pgn
from games.conformance import perft

GAME = ChessGame()
START = GAME.initial_state()
SCHOLARS_MATE = ["e2e4", "e7e5", "d1h5", "b8c6", "f1c4", "g8f6", "h5f7"]


@pytest.mark.parametrize(("depth", "nodes"), [(1, 20), (2, 400), (3, 8902)])
def test_perft_start_position(depth: int, nodes: int) -> None:
    """perft of the start position through the adapter matches the known counts."""
    assert perft(GAME, START, depth) == nodes


def test_info() -> None:
    """The game describes itself as chess, white against black."""
    assert GAME.info.name == "chess"
    assert GAME.info.seats == ("white", "black")
    assert GAME.info.max_plies_hint == 600


@pytest.mark.parametrize(
    ("move", "canonical"),
    [
        ("Nf3", "g1f3"),
        (" e2e4 ", "e2e4"),
        ("E2E4", "e2e4"),
        ("e4", "e2e4"),
        ("Nc3", "b1c3"),
        ("Nf3+", "g1f3"),
        ("e4!?", "e2e4"),
    ],
)
def test_normalize_accepts_uci_and_san(move: str, canonical: str) -> None:
    """UCI (any case, padded) and SAN are normalised to UCI."""
    assert GAME.normalize_move(START, move) == canonical


@pytest.mark.parametrize("move", ["e1h1", "O-O", "0-0", "e1g1"])
def test_castling_spellings(move: str) -> None:
    """King-side castling is accepted as SAN, UCI and king-takes-rook, canonical e1g1."""
    state = GAME.decode_state("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    assert GAME.normalize_move(state, move) == "e1g1"


def test_promotion_spellings() -> None:
    """Promotions are accepted as SAN and upper-case UCI; a missing piece is explained."""
    state = GAME.decode_state("4k3/P7/8/8/8/8/8/4K3 w - - 0 1")
    assert GAME.normalize_move(state, "a8=Q") == "a7a8q"
    assert GAME.normalize_move(state, "A7A8N") == "a7a8n"
    with pytest.raises(IllegalMoveError, match="promotion needs a piece letter"):
        GAME.normalize_move(state, "a7a8")


def test_illegal_message_names_move_and_alternatives() -> None:
    """An illegal move's error quotes it and lists the legal moves."""
    with pytest.raises(IllegalMoveError) as info:
        GAME.apply(START, "e2e5")
    message = str(info.value)
    assert "'e2e5'" in message
    assert "e2e4" in message
    assert "g1f3" in message
    assert info.value.legal == tuple(GAME.legal_moves(START))


@pytest.mark.parametrize(
    ("move", "detail"),
    [("", "empty move"), ("resign", "neither UCI nor SAN"), ("0000", "null moves")],
)
def test_garbage_moves_explained(move: str, detail: str) -> None:
    """Garbage moves are rejected with a reason."""
    with pytest.raises(IllegalMoveError, match=detail):
        GAME.normalize_move(START, move)


def test_ambiguous_san_rejected() -> None:
    """SAN that fits two pieces is rejected as ambiguous."""
    state = GAME.decode_state("4k3/8/8/8/8/8/8/1N2KN2 w - - 0 1")
    with pytest.raises(IllegalMoveError, match="ambiguous"):
        GAME.apply(state, "Nd2")
    assert GAME.normalize_move(state, "Nbd2") == "b1d2"


def test_apply_does_not_mutate() -> None:
    """apply returns a new state and leaves its input untouched."""
    after = GAME.apply(START, "e2e4")
    assert START.fen == chess.STARTING_FEN
    assert START.board.move_stack == []
    assert after.board.fen().startswith("rnbqkbnr/pppppppp/8/8/4P3/")
    assert GAME.to_move(after) == 1


def test_equal_histories_are_equal_states() -> None:
    """Replaying the same moves gives equal, equally hashed states."""
    first, second = replay(GAME, SCHOLARS_MATE[:4]), replay(GAME, SCHOLARS_MATE[:4])
    assert first == second
    assert hash(first) == hash(second)
    assert first != START


def test_display_move_is_san() -> None:
    """display_move writes SAN, with the mate sign."""
    assert GAME.display_move(START, "g1f3") == "Nf3"
    before_mate = replay(GAME, SCHOLARS_MATE[:-1])
    assert GAME.display_move(before_mate, "h5f7") == "Qxf7#"


def test_checkmate() -> None:
    """Scholar's mate is a win for white by checkmate, with no legal moves left."""
    state = replay(GAME, SCHOLARS_MATE)
    assert GAME.outcome(state) == Outcome(0, "checkmate")
    assert GAME.legal_moves(state) == []


def test_threefold_repetition_is_automatic() -> None:
    """The third occurrence of a position ends the game without a claim."""
    line = ["g1f3", "g8f6", "f3g1", "f6g8"] * 2
    assert GAME.outcome(replay(GAME, line[:-1])) is None
    state = replay(GAME, line)
    assert GAME.outcome(state) == Outcome(None, "threefold_repetition")
    with pytest.raises(IllegalMoveError, match="the game is over"):
        GAME.apply(state, "g1f3")


def test_repetition_history_is_kept_across_applies() -> None:
    """A decoded position has no history, so the same moves do not repeat it three times."""
    line = ["g1f3", "g8f6", "f3g1", "f6g8"] * 2
    decoded = GAME.decode_state(GAME.encode_state(replay(GAME, line[:4])))
    assert GAME.outcome(replay(GAME, line[4:], decoded)) is None


def test_fifty_move_rule_is_automatic() -> None:
    """A quiet move that brings the halfmove clock to 100 draws the game."""
    state = GAME.decode_state("4k3/8/8/8/8/8/8/R3K3 w - - 99 80")
    assert GAME.outcome(state) is None
    after = GAME.apply(state, "a1a2")
    assert after.board.halfmove_clock == 100
    assert GAME.outcome(after) == Outcome(None, "fifty_moves")


def test_pawn_move_resets_fifty_move_count() -> None:
    """A pawn move at halfmove clock 99 does not draw."""
    state = GAME.decode_state("4k3/8/8/8/8/8/P7/R3K3 w - - 99 80")
    assert GAME.outcome(GAME.apply(state, "a2a3")) is None


def test_checkmate_beats_fifty_move_rule() -> None:
    """Mate delivered on the hundredth halfmove wins rather than draws."""
    state = GAME.decode_state("k7/8/1K6/8/8/8/8/7R w - - 99 80")
    assert GAME.outcome(GAME.apply(state, "Rh8")) == Outcome(0, "checkmate")


def test_stalemate_and_insufficient_material() -> None:
    """Stalemate and bare kings are draws."""
    stalemate = GAME.decode_state("k7/2Q5/1K6/8/8/8/8/8 b - - 0 1")
    assert GAME.outcome(stalemate) == Outcome(None, "stalemate")
    bare = GAME.decode_state("k7/8/1K6/8/8/8/8/8 w - - 0 1")
    assert GAME.outcome(bare) == Outcome(None, "insufficient_material")


def test_fen_roundtrip() -> None:
    """encode is FEN and decode reads it back."""
    state = replay(GAME, ["e2e4", "a7a6", "e4e5", "d7d5"])
    fen = GAME.encode_state(state)
    assert fen == "rnbqkbnr/1pp1pppp/p7/3pP3/8/8/PPPP1PPP/RNBQKBNR w KQkq d6 0 3"
    assert GAME.encode_state(GAME.decode_state(fen)) == fen


@pytest.mark.parametrize(
    ("fen", "why"),
    [
        ("not a fen", "invalid FEN 'not a fen'"),
        ("8/8/8/8/8/8/8/8 w - - 0 1", "no white king"),
        ("4k3/8/8/8/8/8/8/4QK2 w - - 0 1", "opposite check"),
        ("P3k3/8/8/8/8/8/8/4K3 w - - 0 1", "pawns on backrank"),
    ],
)
def test_invalid_fen_rejected(fen: str, why: str) -> None:
    """Malformed and impossible FENs raise InvalidStateError quoting the FEN and the reason."""
    with pytest.raises(InvalidStateError, match=why) as info:
        GAME.decode_state(fen)
    assert repr(fen) in str(info.value)


def test_pgn_roundtrip() -> None:
    """to_pgn writes a PGN that moves_from_pgn and python-chess read back."""
    pgn = to_pgn(SCHOLARS_MATE, headers={"White": "alice", "Black": "bob"}, result="1-0")
    assert moves_from_pgn(pgn) == SCHOLARS_MATE
    game = chess.pgn.read_game(io.StringIO(pgn))
    assert game is not None
    assert game.headers["White"] == "alice"
    assert game.headers["Result"] == "1-0"
    assert "4. Qxf7# 1-0" in pgn


def test_pgn_custom_start() -> None:
    """A non-standard start position is recorded in the FEN and SetUp headers."""
    fen = "4k3/8/8/8/8/8/8/R3K3 w Q - 0 1"
    pgn = to_pgn(["e1c1", "e8e7"], headers={"Event": "test"}, initial_fen=fen)
    game = chess.pgn.read_game(io.StringIO(pgn))
    assert game is not None
    assert game.headers["FEN"] == fen
    assert game.headers["SetUp"] == "1"
    assert game.headers["Result"] == "*"
    assert moves_from_pgn(pgn) == ["e1c1", "e8e7"]
    assert "1. O-O-O Ke7 *" in pgn


def test_pgn_rejects_illegal_moves() -> None:
    """to_pgn refuses an illegal move and moves_from_pgn refuses a broken PGN."""
    with pytest.raises(IllegalMoveError):
        to_pgn(["e2e5"], headers={})
    with pytest.raises(InvalidStateError):
        moves_from_pgn("1. e4 e5 2. Ke3 *")


def test_render_text() -> None:
    """The text render names the side to move, the FEN and labels ranks and files."""
    text = GAME.render_text(START)
    assert text.startswith("White to move")
    assert f"FEN: {chess.STARTING_FEN}" in text
    assert "  a b c d e f g h" in text
    assert "8 r n b q k b n r 8" in text
    assert "1 R N B Q K B N R 1" in text


def test_render_svg_shows_last_move() -> None:
    """The SVG render draws the last move as an arrow."""
    state = GAME.apply(START, "e2e4")
    svg = GAME.render_svg(state, "e2e4")
    assert svg.startswith("<svg")
    assert 'width="360"' in svg
    assert "arrow" in svg
    assert "arrow" not in GAME.render_svg(START)


def test_state_outcome_is_precomputed() -> None:
    """A state built from a board reports the same outcome as the game."""
    board = chess.Board("k7/8/1K6/8/8/8/8/8 w - - 0 1")
    assert ChessState(board).outcome == Outcome(None, "insufficient_material")


def test_encoded_fen_matches_python_chess_on_random_games() -> None:
    """The arena's own FEN writer gives python-chess's FEN in every position of 40 random
    games (promotions, castling rights, legal and illegal en passant squares)."""
    import random

    rng = random.Random(7)
    positions = 0
    for _ in range(40):
        state = GAME.initial_state()
        while GAME.outcome(state) is None and state.board.ply() < 300:
            assert GAME.encode_state(state) == state.board.fen()
            state = GAME.apply(state, rng.choice(GAME.legal_moves(state)))
            positions += 1
    assert positions > 2000


def test_display_after_apply_and_before_agree() -> None:
    """SAN is the same whether asked before the move is applied or after (when the
    position remembers it), for checks, mates, castling and promotions."""
    fresh = ChessGame()
    state = fresh.initial_state()
    for move in SCHOLARS_MATE:
        before = fresh.display_move(state, move)
        after_state = fresh.apply(state, move)
        assert fresh.display_move(state, move) == before
        assert ChessGame().display_move(state, move) == before
        state = after_state
    assert before == "Qxf7#"
    promo = GAME.decode_state("8/P6k/8/8/8/8/8/K7 w - - 0 1")
    GAME.apply(promo, "a7a8q")
    assert GAME.display_move(promo, "a7a8q") == "a8=Q"
    assert GAME.display_move(promo, "a7a8n") == "a8=N"

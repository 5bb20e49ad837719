"""The conformance suite every game must pass.

Each check is a plain function that raises :class:`AssertionError` with a
message naming the game, the position and what went wrong, so a plug-in's
own tests can call them directly::

    from games.conformance import run_all

    def test_my_game_conforms() -> None:
        run_all(MyGame())

Random playouts are seeded, so failures are reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import TypeVar

from games.base import Game, IllegalMoveError, InvalidStateError, Outcome

__all__ = [
    "GARBAGE_MOVES",
    "check_illegal_rejected",
    "check_info",
    "check_random_playouts",
    "check_render",
    "check_roundtrip",
    "check_terminal_examples",
    "perft",
    "run_all",
]

StateT = TypeVar("StateT")

GARBAGE_MOVES: tuple[str, ...] = (
    "",
    "   ",
    "zz",
    "e9e9",
    "99",
    "0",
    "-1",
    "resign",
    "0000",
    "\x00",
    "e2e4 e7e5",
)
"""Strings no game should accept as a move (unless they are listed as legal)."""

_REASON_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_GARBAGE_STATES = ("", "not a state", "\x00")


def _cap(game: Game[StateT], max_plies: int | None) -> int:
    return 10 * game.info.max_plies_hint if max_plies is None else max_plies


def _where(game: Game[StateT], state: StateT, context: str) -> str:
    try:
        encoded = game.encode_state(state)
    except Exception as exc:  # the encoding itself is broken: still report the context
        encoded = f"<encode_state failed: {exc!r}>"
    return f"{game.info.name}: {context}, state {encoded!r}"


def _check_outcome(game: Game[StateT], outcome: Outcome, where: str) -> None:
    assert isinstance(outcome, Outcome), f"{where}: outcome {outcome!r} is not an Outcome"
    assert outcome.winner in (None, 0, 1), f"{where}: invalid winner {outcome.winner!r}"
    assert _REASON_RE.fullmatch(outcome.reason), (
        f"{where}: outcome reason {outcome.reason!r} is not snake_case"
    )


def _playout(
    game: Game[StateT], rng: random.Random, max_plies: int
) -> tuple[list[StateT], list[str]]:
    """A random game: the states (initial to last) and the moves between them."""
    state = game.initial_state()
    states: list[StateT] = [state]
    moves: list[str] = []
    while game.outcome(state) is None and len(moves) < max_plies:
        move = rng.choice(game.legal_moves(state))
        state = game.apply(state, move)
        states.append(state)
        moves.append(move)
    return states, moves


def check_info(game: Game[StateT]) -> None:
    """``info`` is complete: snake-case name, two distinct seats, a positive hint."""
    info = game.info
    assert re.fullmatch(r"[a-z][a-z0-9_]*", info.name), f"bad game name {info.name!r}"
    assert info.title.strip(), f"{info.name}: empty title"
    assert len(info.seats) == 2, f"{info.name}: seats must be a pair, got {info.seats!r}"
    assert info.seats[0] != info.seats[1], f"{info.name}: seats must differ: {info.seats!r}"
    assert info.move_notation.strip(), f"{info.name}: empty move_notation"
    assert info.max_plies_hint > 0, f"{info.name}: max_plies_hint must be positive"


def check_random_playouts(
    game: Game[StateT], n: int = 20, seed: int = 0, max_plies: int | None = None
) -> None:
    """Play ``n`` random games to their end, checking the rules' invariants at each ply.

    At each ply: the seat to move is 0 or 1; a position without an outcome
    has legal moves, without duplicates and in a stable order, each of which
    normalizes to itself; ``apply`` leaves its input unchanged; outcomes have
    a valid winner and a snake-case reason. A game that has not ended after
    ``max_plies`` (default: 10 x ``info.max_plies_hint``) fails.
    """
    cap = _cap(game, max_plies)
    rng = random.Random(seed)
    for number in range(n):
        state = game.initial_state()
        for ply in range(cap + 1):
            ctx = f"playout {number} (seed {seed}), ply {ply}"
            seat = game.to_move(state)
            assert seat in (0, 1), f"{_where(game, state, ctx)}: to_move returned {seat!r}"
            outcome = game.outcome(state)
            if outcome is not None:
                _check_outcome(game, outcome, _where(game, state, ctx))
                break
            assert ply < cap, f"{_where(game, state, ctx)}: no outcome after {cap} plies"
            legal = game.legal_moves(state)
            assert legal, f"{_where(game, state, ctx)}: no legal moves but no outcome either"
            assert len(set(legal)) == len(legal), (
                f"{_where(game, state, ctx)}: duplicate legal moves {legal}"
            )
            assert game.legal_moves(state) == legal, (
                f"{_where(game, state, ctx)}: legal_moves is not stable"
            )
            for move in legal:
                normal = game.normalize_move(state, move)
                assert normal == move, (
                    f"{_where(game, state, ctx)}: legal move {move!r} normalizes to {normal!r}"
                )
            move = rng.choice(legal)
            shown = game.display_move(state, move)
            assert isinstance(shown, str) and shown, (
                f"{_where(game, state, ctx)}: empty display_move for {move!r}"
            )
            before = game.encode_state(state)
            after = game.apply(state, move)
            assert game.encode_state(state) == before, (
                f"{_where(game, state, ctx)}: apply({move!r}) mutated its input"
            )
            assert game.to_move(state) == seat, (
                f"{_where(game, state, ctx)}: apply({move!r}) changed to_move of its input"
            )
            state = after


def check_roundtrip(
    game: Game[StateT], n: int = 5, seed: int = 0, max_plies: int | None = None
) -> None:
    """``decode(encode(s))`` re-encodes identically and keeps the side and legal moves.

    Checked for every state along ``n`` random playouts. Legal moves are
    compared only where the game is not over (an encoding may drop history,
    such as the positions counted for a repetition draw). Garbage encodings
    must raise :class:`InvalidStateError`.
    """
    rng = random.Random(seed)
    for number in range(n):
        states, _ = _playout(game, rng, _cap(game, max_plies))
        for ply, state in enumerate(states):
            encoded = game.encode_state(state)
            where = f"{game.info.name}: playout {number} (seed {seed}), ply {ply}, {encoded!r}"
            assert isinstance(encoded, str) and encoded, f"{where}: empty encoding"
            decoded = game.decode_state(encoded)
            again = game.encode_state(decoded)
            assert again == encoded, f"{where}: decode then encode gave {again!r}"
            assert game.to_move(decoded) == game.to_move(state), f"{where}: to_move changed"
            if game.outcome(state) is None:
                got, want = game.legal_moves(decoded), game.legal_moves(state)
                assert got == want, f"{where}: legal moves after decode {got} != {want}"
    for garbage in _GARBAGE_STATES:
        try:
            game.decode_state(garbage)
        except InvalidStateError:
            continue
        raise AssertionError(f"{game.info.name}: decode_state({garbage!r}) did not raise")


def _illegal_message(game: Game[StateT], state: StateT, move: str) -> str | None:
    """The message of the :class:`IllegalMoveError` that ``apply`` raises, or ``None``."""
    try:
        game.apply(state, move)
    except IllegalMoveError as exc:
        return str(exc)
    return None


def _expect_illegal(game: Game[StateT], state: StateT, move: str, where: str) -> None:
    legal = game.legal_moves(state)
    message = _illegal_message(game, state, move)
    assert message is not None, f"{where}: illegal move {move!r} was accepted"
    assert repr(move) in message, f"{where}: message {message!r} does not quote {move!r}"
    assert not legal or any(alt in message for alt in legal), (
        f"{where}: message {message!r} names no legal move"
    )
    try:
        normal = game.normalize_move(state, move)
    except IllegalMoveError:
        return
    raise AssertionError(f"{where}: normalize_move accepted {move!r} as {normal!r}, apply did not")


def check_illegal_rejected(
    game: Game[StateT], n: int = 3, seed: int = 0, max_plies: int | None = None
) -> None:
    """Garbage moves, and any move once the game is over, raise :class:`IllegalMoveError`.

    The message must quote the move (``repr``) and name at least one legal
    move when there is one. A finished game has no legal moves.
    """
    rng = random.Random(seed)
    finished: list[tuple[StateT, Sequence[str], str]] = []
    for number in range(n):
        states, _ = _playout(game, rng, _cap(game, max_plies))
        for ply, state in enumerate(states):
            if ply % 7 and ply != len(states) - 1:
                continue
            where = _where(game, state, f"playout {number} (seed {seed}), ply {ply}")
            legal = game.legal_moves(state)
            for garbage in GARBAGE_MOVES:
                if garbage not in legal:
                    _expect_illegal(game, state, garbage, where)
        if len(states) > 1 and game.outcome(states[-1]) is not None:
            finished.append((states[-1], game.legal_moves(states[-2]), f"playout {number}"))
    for example in game.terminal_examples():
        state = game.initial_state()
        previous: Sequence[str] = ()
        for move in example.moves:
            previous = game.legal_moves(state)
            state = game.apply(state, move)
        finished.append((state, previous, f"terminal example {example.name!r}"))
    for state, previous, context in finished:
        where = _where(game, state, f"{context}, after the end")
        assert game.legal_moves(state) == [], f"{where}: a finished game has legal moves"
        for move in [*previous[:5], *GARBAGE_MOVES[:3]]:
            _expect_illegal(game, state, move, where)


def check_terminal_examples(game: Game[StateT]) -> None:
    """Each terminal example ends with exactly its outcome, and no earlier ply is terminal."""
    examples = game.terminal_examples()
    assert examples, f"{game.info.name}: terminal_examples() is empty"
    for example in examples:
        label = f"terminal example {example.name or example.moves!r}"
        state = game.initial_state()
        for ply, move in enumerate(example.moves):
            where = _where(game, state, f"{label}, ply {ply}")
            early = game.outcome(state)
            assert early is None, f"{where}: already over ({early}) before move {move!r}"
            state = game.apply(state, move)
        where = _where(game, state, f"{label}, after the last move")
        got = game.outcome(state)
        assert got == example.outcome, f"{where}: outcome {got}, expected {example.outcome}"


def check_render(game: Game[StateT], n: int = 2, seed: int = 0) -> None:
    """Text renders are non-empty and deterministic; SVG renders are SVG documents."""
    rng = random.Random(seed)
    for number in range(n):
        states, moves = _playout(game, rng, _cap(game, None))
        last_moves: list[str | None] = [None, *moves]
        for ply, (state, last) in enumerate(zip(states, last_moves, strict=True)):
            if ply % 5 and ply != len(states) - 1:
                continue
            where = _where(game, state, f"playout {number} (seed {seed}), ply {ply}")
            text = game.render_text(state)
            assert isinstance(text, str) and text.strip(), f"{where}: empty render_text"
            assert game.render_text(state) == text, f"{where}: render_text is not deterministic"
            for shown in {last, None}:
                svg = game.render_svg(state, shown)
                assert svg.startswith(("<svg", "<?xml")), (
                    f"{where}: render_svg(last_move={shown!r}) starts {svg[:40]!r}"
                )
                assert "</svg>" in svg, f"{where}: render_svg(last_move={shown!r}) lacks </svg>"


def run_all(game: Game[StateT], n: int = 20, seed: int = 0) -> None:
    """Every check above, with ``n`` random playouts for the main one."""
    check_info(game)
    check_terminal_examples(game)
    check_random_playouts(game, n=n, seed=seed)
    check_roundtrip(game, n=max(1, n // 4), seed=seed)
    check_illegal_rejected(game, n=max(1, n // 6), seed=seed)
    check_render(game, n=max(1, n // 10), seed=seed)


def perft(game: Game[StateT], state: StateT, depth: int) -> int:
    """The number of move sequences of length ``depth`` from ``state``.

    Goes through the adapter only (``legal_moves`` and ``apply``, on every
    move, leaves included), so it also checks that each legal move applies.
    """
    if depth == 0:
        return 1
    return sum(perft(game, game.apply(state, move), depth - 1) for move in game.legal_moves(state))

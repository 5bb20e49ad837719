"""The LLM actor and speculator: pure prompts and parsing, then calls to a fake OpenAI server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from clients.llm import (
    EndpointError,
    IllegalAnswerError,
    LLMActor,
    LLMOptions,
    LLMSpeculator,
    LLMTimeoutError,
    ParseError,
    RateLimitedError,
)
from clients.llm.endpoint import retry_after_s
from clients.llm.parse import MAX_REPLY_CHARS, parse_guesses, parse_move
from clients.llm.prompt import (
    actor_prompt,
    guesses_schema,
    move_schema,
    moves_grammar,
    speculator_prompt,
)
from clients.players import parse_player_spec
from clients.speculation import Guess, Meter, Position, Speculation, SpeculationConfig
from games import get_game, replay
from tests.fake_openai import (
    EmptyChoices,
    Fail,
    FakeOpenAI,
    Garbage,
    Hang,
    Huge,
    RateLimited,
    Reply,
    Step,
    fake_openai,
)

START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"


def position(moves: list[str]) -> Position:
    game = get_game("chess")
    return Position(game, replay(game, moves), tuple(moves))


START = position([])


@contextlib.asynccontextmanager
async def actor_on(fake: FakeOpenAI, **options: Any) -> AsyncIterator[LLMActor]:
    actor = LLMActor(LLMOptions(model="fake-model", base_url=fake.base_url, **options))
    try:
        yield actor
    finally:
        await actor.close()


@contextlib.asynccontextmanager
async def speculator_on(fake: FakeOpenAI, **options: Any) -> AsyncIterator[LLMSpeculator]:
    speculator = LLMSpeculator(LLMOptions(model="fake-model", base_url=fake.base_url, **options))
    try:
        yield speculator
    finally:
        await speculator.close()


async def act(script: list[Step], **options: Any) -> tuple[str, FakeOpenAI]:
    """The actor's move on the start position against a fake running ``script``."""
    async with fake_openai(script) as fake, actor_on(fake, **options) as actor:
        action = await actor.act(START, Meter())
    return action.move, fake


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll ``check`` (state of another task or of the server) until it holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 (the state lives in another task/server)
            await asyncio.sleep(0.01)


def last_user(body: dict[str, Any]) -> str:
    content: str = body["messages"][-1]["content"]
    return content


# ---------------------------------------------------------------------- prompts


def test_prompt_is_identical_for_the_same_position_reached_two_ways() -> None:
    """A branch's position (built move by move, SAN) and the replayed one give the same bytes."""
    branch = START.after("e4").after("e5").after("Nf3")
    replayed = position(["e2e4", "e7e5", "g1f3"])
    for structured in (True, False):
        one = actor_prompt(branch, structured=structured)
        two = actor_prompt(replayed, structured=structured)
        assert one == two == actor_prompt(branch, structured=structured)
        assert [m.content.encode() for m in one] == [m.content.encode() for m in two]
    assert speculator_prompt(branch, 3, structured=True) == speculator_prompt(
        replayed, 3, structured=True
    )


def test_prompt_has_the_state_line_history_and_sorted_legal_moves() -> None:
    """The user message quotes the encoded state, the SAN history and the legal moves."""
    pos = position(["e2e4", "e7e5", "g1f3"])
    system, user = actor_prompt(pos, structured=False)
    fen = pos.game.encode_state(pos.state)
    assert f"State: {fen}\n" in user.content
    assert "Moves so far: 1. e4 e5 2. Nf3\n" in user.content
    assert f"Legal moves: {', '.join(sorted(pos.legal_moves()))}\n" in user.content
    assert "To move: black (seat 1)" in user.content
    assert "UCI long algebraic" in system.content and "Move: <your move>" in system.content
    hidden = actor_prompt(pos, structured=True, show_legal=False)
    assert "Legal moves:" not in hidden[1].content
    assert '{"move": "<your move>"}' in hidden[0].content


def test_schemas_constrain_answers_to_legal_moves() -> None:
    """The actor's move and the speculator's moves are enums of the legal moves; k caps the list."""
    legal = sorted(START.legal_moves())
    schema = move_schema(legal)
    assert schema["properties"]["move"]["enum"] == legal
    assert schema["additionalProperties"] is False and schema["required"] == ["move"]
    ranked = guesses_schema(legal, 3)["properties"]["moves"]
    assert ranked["maxItems"] == 3
    assert ranked["items"]["properties"]["move"]["enum"] == legal
    assert ranked["items"]["properties"]["prob"] == {"type": "number"}


def test_prompts_put_the_game_first_and_the_position_last() -> None:
    """A player's next prompt extends its last one up to the position's short part, so a
    server can reuse the cached prefix; the speculator's prompt is laid out the same way."""
    before = position(["e2e4", "e7e5"])
    after = position(["e2e4", "e7e5", "g1f3", "b8c6"])
    for structured, bare in ((True, True), (True, False), (False, False)):
        one = actor_prompt(before, structured=structured, bare=bare, show_state=False)
        two = actor_prompt(after, structured=structured, bare=bare, show_state=False)
        assert one[0] == two[0]  # the system message does not depend on the position
        stable = one[1].content.split("\n\nTo move:")[0]
        assert two[1].content.startswith(stable.removesuffix("1. e4 e5"))
        assert two[1].content.startswith("Game: Chess\nMoves so far: 1. e4 e5 2. Nf3 Nc6")
    short = actor_prompt(
        after, structured=True, bare=True, show_state=False, show_board=False, show_legal=False
    )
    assert short[1].content.endswith("Moves so far: 1. e4 e5 2. Nf3 Nc6\n\nYour move as white?")
    assert "moves alone" in short[0].content
    ranked = speculator_prompt(after, 2, structured=True, bare=True, show_board=False)
    own = actor_prompt(after, structured=True, bare=True, show_board=False)
    assert ranked[0] == own[0]  # the actor's system message: one cached prefix for both
    assert ranked[1].content.startswith(own[1].content.rpartition("\n\n")[0] + "\n\n")
    assert ranked[1].content.endswith("one per line, best first.")
    assert speculator_prompt(after, 1, structured=True, bare=True) == actor_prompt(
        after, structured=True, bare=True
    )


def test_moves_grammar_allows_only_the_legal_moves() -> None:
    """The grammar's alternatives are the legal moves (quoted), 1 to k of them one per line."""
    legal = sorted(START.legal_moves())
    one = moves_grammar(legal)
    assert one.startswith("root ::= move\n")
    assert one.splitlines()[1] == "move ::= " + " | ".join(f'"{m}"' for m in legal)
    assert moves_grammar(legal, 3).startswith('root ::= move ("\\n" move("\\n" move)?)?\n')
    lark = moves_grammar(["e2e4", "d2d4"], 2, dialect="llguidance")
    assert lark == '%llguidance {}\nstart: move ("\\n" move)?\nmove: "e2e4" | "d2d4"\n'
    assert moves_grammar(['a"b']).splitlines()[1] == 'move ::= "a\\"b"'
    with pytest.raises(ValueError, match="no legal moves"):
        moves_grammar([])


async def test_grammar_format_sends_a_grammar_and_reads_the_bare_move() -> None:
    """With schema_format=grammar the request carries llama.cpp's grammar of the legal
    moves and cache_prompt instead of response_format, and a bare move is played."""
    move, fake = await act([Reply("g1f3")], schema_format="grammar", structured="on")
    assert move == "g1f3"
    (body,) = fake.requests
    assert "response_format" not in body
    assert body["grammar"] == moves_grammar(sorted(START.legal_moves()))
    assert body["cache_prompt"] is True
    assert body["max_tokens"] == 4  # no legal move is longer; none is cut short
    assert "moves alone" in body["messages"][0]["content"]
    move, fake = await act([Reply("e2e4")], schema_format="llguidance")
    assert fake.requests[0]["grammar"] == moves_grammar(
        sorted(START.legal_moves()), dialect="llguidance"
    )


# ---------------------------------------------------------------------- parsing


def test_parse_reads_structured_json() -> None:
    """A JSON answer (bare or fenced) gives its move, canonicalised."""
    game, state = START.game, START.state
    assert parse_move(game, state, '{"move": "e2e4"}') == "e2e4"
    assert parse_move(game, state, '```json\n{"move": "Nf3"}\n```') == "g1f3"


def test_parse_free_text_commits_to_the_last_move_line() -> None:
    """Several moves are discussed; the last ``Move:`` line wins, and SAN is accepted."""
    game, state = START.game, START.state
    reply = (
        "Move: d4 looks solid, and e4 or c4 are fine too.\n"
        "On reflection, the knight first.\n"
        "Move: **Nf3**\n"
        "(c4 stays possible later)"
    )
    assert parse_move(game, state, reply) == "g1f3"
    assert parse_move(game, state, "Final answer: 1. e4") == "e2e4"


def test_parse_falls_back_to_the_last_legal_move_mentioned() -> None:
    """Without a commitment, the last legal move in the text is taken."""
    game, state = START.game, START.state
    assert parse_move(game, state, "I like e4, but d4 is my choice.") == "d2d4"


def test_parse_errors_say_what_was_wrong() -> None:
    """Empty, too long, illegal and moveless replies raise ParseError quoting <= 200 chars."""
    game, state = START.game, START.state
    with pytest.raises(ParseError, match="empty"):
        parse_move(game, state, "   ")
    with pytest.raises(ParseError, match="too long") as long:
        parse_move(game, state, "x" * (MAX_REPLY_CHARS + 1))
    assert len(str(long.value)) < 400
    with pytest.raises(ParseError, match=r"not legal here: illegal move 'e2e5'"):
        parse_move(game, state, "Move: e2e5")
    with pytest.raises(ParseError, match="no legal move found") as none:
        parse_move(game, state, "I resign. " * 100)
    assert none.value.reply.startswith("I resign.")
    assert len(str(none.value)) < 300


def test_parse_guesses_keeps_legal_moves_in_order_without_repeats() -> None:
    """JSON guesses: illegal and repeated moves dropped, probabilities kept."""
    game, state = START.game, START.state
    reply = json.dumps(
        {
            "moves": [
                {"move": "e4", "prob": 0.5},
                {"move": "e2e5", "prob": 0.2},
                {"move": "e2e4", "prob": 0.1},
                {"move": "d2d4", "prob": 0.3},
            ]
        }
    )
    assert parse_guesses(game, state, reply) == [Guess("e2e4", 0.5), Guess("d2d4", 0.3)]


def test_parse_guesses_reads_a_ranked_list_and_tolerates_garbage() -> None:
    """A plain ranked list with percentages is read; garbage gives no guess."""
    game, state = START.game, START.state
    reply = "1. e4 (40%)\n2. d4 - 0.3\n3. Nf3 20%\n4. Qh5??"
    assert parse_guesses(game, state, reply) == [
        Guess("e2e4", 0.4),
        Guess("d2d4", 0.3),
        Guess("g1f3", 0.2),
    ]
    assert parse_guesses(game, state, "<html>502</html>") == []
    assert parse_guesses(game, state, '{"moves": 7}') == []
    assert parse_guesses(game, state, "") == []


# ---------------------------------------------------------------------- actor


async def test_structured_answer_is_parsed_and_request_is_complete() -> None:
    """A JSON answer is played; the request carries the schema and the sampling options."""
    move, fake = await act([Reply('{"move": "e2e4"}')], structured="on")
    assert move == "e2e4"
    (body,) = fake.requests
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0.0 and body["seed"] == 0 and body["max_tokens"] == 256
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "reasoning_effort" not in body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "move" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == move_schema(sorted(START.legal_moves()))


async def test_free_text_answer_and_optional_fields() -> None:
    """Free text is parsed; unset seed/max_tokens are omitted, reasoning_effort is sent."""
    move, fake = await act(
        [Reply("e4 is classical, d4 is solid.\nMove: d4")],
        structured="off",
        seed=None,
        max_tokens=None,
        reasoning_effort="low",
        stream=False,
    )
    assert move == "d2d4"
    (body,) = fake.requests
    assert "response_format" not in body and "seed" not in body and "max_tokens" not in body
    assert body["reasoning_effort"] == "low"
    assert "Move: <your move>" in body["messages"][0]["content"]


async def test_the_comment_is_the_raw_reply() -> None:
    """The returned action keeps the model's reply as its comment, cut to 8000 characters."""
    text = "why " * 3000 + "Move: e2e4"
    async with fake_openai([Reply(text, chunk_chars=512)]) as fake, actor_on(fake) as actor:
        action = await actor.act(START, Meter())
    assert action.move == "e2e4"
    assert action.comment == text[:8000]


async def test_branch_and_sequential_requests_are_byte_identical() -> None:
    """The same position reached two ways sends the very same request body."""
    branch = START.after("e4").after("e5")
    replayed = position(["e2e4", "e7e5"])
    script: list[Step] = [Reply("Move: Nf3"), Reply("Move: Nf3")]
    async with fake_openai(script) as fake, actor_on(fake) as actor:
        await actor.act(branch, Meter())
        await actor.act(replayed, Meter())
    one, two = (json.dumps(body, sort_keys=True).encode() for body in fake.requests)
    assert one == two


async def test_rethink_after_an_illegal_move_then_success() -> None:
    """An illegal answer is sent back with feedback; the corrected answer is played."""
    move, fake = await act([Reply("Move: e2e5"), Reply("Move: e2e4")], structured="off")
    assert move == "e2e4"
    first, second = fake.requests
    assert len(second["messages"]) == len(first["messages"]) + 2
    assert second["messages"][-2] == {"role": "assistant", "content": "Move: e2e5"}
    feedback = last_user(second)
    assert "not accepted" in feedback and "illegal move 'e2e5'" in feedback
    assert 'You answered: "Move: e2e5"' in feedback


async def test_rethinks_exhausted_raise_illegal_answer_error() -> None:
    """After ``retries`` rethinks without a legal move the actor gives up clearly."""
    with pytest.raises(IllegalAnswerError, match=r"no legal move in 2 attempts.*Ke2"):
        await act([Reply("I pass."), Reply("Move: Ke2")], structured="off", retries=1)


async def test_tokens_and_latency_are_recorded() -> None:
    """Usage from the stream lands on the meter; the engine reports the actor's time."""
    text = "Move: e2e4"
    script: list[Step] = [Reply(text, prompt_tokens=123, delay_s=0.02)]
    async with fake_openai(script) as fake, actor_on(fake) as actor:
        report = await Speculation(actor, None, SpeculationConfig(k=0)).decide(START)
    assert report.move == "e2e4"
    assert report.actor.prompt_tokens == 123
    assert report.actor.completion_tokens == math.ceil(len(text) / 4)
    assert report.actor.ms >= 20


@pytest.mark.parametrize("stream", [True, False])
async def test_meter_from_usage_streamed_or_not(stream: bool) -> None:
    """Final usage (or a non-streamed answer's usage) sets the meter, on top of earlier calls."""
    script: list[Step] = [Reply("Move: e2e5", prompt_tokens=40), Reply("Move: e2e4")]
    meter = Meter()
    async with fake_openai(script) as fake, actor_on(fake, stream=stream) as actor:
        await actor.act(START, meter)
    assert meter.prompt_tokens == 40 + 50
    assert meter.completion_tokens == 3 + 3


async def test_meter_follows_continuous_usage() -> None:
    """A server sending cumulative usage in every chunk is followed, not double counted."""
    script: list[Step] = [Reply("Move: e2e4", prompt_tokens=77, continuous_usage=True)]
    meter = Meter()
    async with fake_openai(script) as fake, actor_on(fake) as actor:
        await actor.act(START, meter)
    assert (meter.prompt_tokens, meter.completion_tokens) == (77, 3)


async def test_rate_limit_is_waited_out_when_time_allows() -> None:
    """A 429 with Retry-After 0.2 s is retried after that wait."""
    started = time.perf_counter()
    move, fake = await act([RateLimited(0.2), Reply("Move: e2e4")])
    assert move == "e2e4"
    assert len(fake.requests) == 2
    assert time.perf_counter() - started >= 0.2


async def test_rate_limit_is_abandoned_when_time_does_not_allow() -> None:
    """A 429 asking for longer than the time left raises at once, without waiting."""
    started = time.perf_counter()
    with pytest.raises(RateLimitedError, match="retry after 5 s"):
        await act([RateLimited(5)], timeout_s=1.0)
    assert time.perf_counter() - started < 1.0
    async with fake_openai([RateLimited(2)]) as fake, actor_on(fake) as actor:
        actor.set_clock((1500, 60_000), "60+0")
        with pytest.raises(RateLimitedError):
            await actor.act(START, Meter())
    assert len(fake.requests) == 1


def test_retry_after_reads_seconds_milliseconds_and_dates() -> None:
    """Retry-After in seconds or as an HTTP date, and retry-after-ms, give seconds to wait."""
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


async def test_server_error_is_retried_once() -> None:
    """One 5xx is retried; a second one is an EndpointError."""
    move, fake = await act([Fail(500), Reply("Move: e2e4")])
    assert move == "e2e4" and len(fake.requests) == 2
    with pytest.raises(EndpointError, match="503") as failure:
        await act([Fail(500), Fail(503), Reply("Move: e2e4")])
    assert failure.value.status == 503


async def test_client_errors_are_not_retried() -> None:
    """A 401 is an EndpointError quoting the status, after a single request."""
    async with fake_openai([Fail(401, "bad key")]) as fake, actor_on(fake) as actor:
        with pytest.raises(EndpointError, match=r"401.*bad key"):
            await actor.act(START, Meter())
    assert len(fake.requests) == 1


@pytest.mark.parametrize("stream", [True, False])
async def test_hang_times_out_within_the_deadline(stream: bool) -> None:
    """A server that never answers costs timeout_s, and the request is dropped."""
    async with fake_openai([Hang()]) as fake, actor_on(fake, timeout_s=0.3, stream=stream) as a:
        started = time.perf_counter()
        with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.30 s"):
            await a.act(START, Meter())
        assert 0.25 <= time.perf_counter() - started < 1.5
        await eventually(lambda: fake.closed_early == 1)


async def test_the_clock_lowers_the_timeout() -> None:
    """With 0.8 s on the mover's clock, the call is cut 0.5 s before it runs out."""
    async with fake_openai([Hang()]) as fake, actor_on(fake, timeout_s=60.0) as actor:
        actor.set_clock((800, 60_000), "60+0")
        assert actor.budget_s(START) == pytest.approx(0.3)
        started = time.perf_counter()
        with pytest.raises(LLMTimeoutError):
            await actor.act(START, Meter())
        assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    "bad",
    [
        EmptyChoices(),
        Garbage(),
        Huge(),
        Garbage('{"choices": "e2e4"}'),
        Garbage('{"choices": [{"delta": {"content": 4}, "message": {"content": 4}}]}'),
        Garbage('{"choices": [], "usage": {"prompt_tokens": "many"}}'),
        Garbage("[1, 2]"),
    ],
    ids=["empty", "garbage", "1MB", "choices", "content", "usage", "array"],
)
async def test_unreadable_replies_get_a_rethink(bad: Step, stream: bool) -> None:
    """Empty choices, a non-JSON body, JSON of the wrong shape and a 1 MB reply are
    unreadable answers: rethink."""
    move, fake = await act([bad, Reply("Move: e2e4")], stream=stream)
    assert move == "e2e4"
    assert len(fake.requests) == 2
    assert "not accepted" in last_user(fake.requests[1])


async def test_auto_structured_falls_back_to_free_text_for_good() -> None:
    """A 400 on response_format switches to free text, and later calls do not try again."""
    script: list[Step] = [Reply("Move: e2e4"), Reply("Move: d2d4")]
    async with fake_openai(script, reject_response_format=True) as fake, actor_on(fake) as actor:
        first = await actor.act(START, Meter())
        second = await actor.act(START, Meter())
    assert (first.move, second.move) == ("e2e4", "d2d4")
    assert ["response_format" in body for body in fake.requests] == [True, False, False]
    assert "Move: <your move>" in fake.requests[1]["messages"][0]["content"]


async def test_an_unrelated_400_does_not_switch_structured_output_off() -> None:
    """A 400 that free text does not cure either is an error, and structured output stays on."""
    script: list[Step] = [Fail(400, "bad max_tokens"), Fail(400, "bad max_tokens")]
    async with fake_openai(script) as fake, actor_on(fake) as actor:
        with pytest.raises(EndpointError, match="bad max_tokens"):
            await actor.act(START, Meter())
        assert actor.endpoint.structured
    assert ["response_format" in body for body in fake.requests] == [True, False]


async def test_structured_on_does_not_fall_back() -> None:
    """With structured="on", a 400 on response_format is an error, not a silent fallback."""
    async with (
        fake_openai([], reject_response_format=True) as fake,
        actor_on(fake, structured="on") as actor,
    ):
        with pytest.raises(EndpointError, match="400"):
            await actor.act(START, Meter())


async def test_cancelled_call_closes_its_request_and_keeps_its_tokens() -> None:
    """Cancelling mid-stream drops the HTTP request; the meter shows the tokens streamed."""
    text = "Let me think about e4, d4 and c4 "  # 33 chars: 9 chunks of 4
    chunks = math.ceil(len(text) / 4)
    meter = Meter()
    async with fake_openai([Hang(text)]) as fake, actor_on(fake) as actor:
        task = asyncio.create_task(actor.act(START, meter))
        await eventually(lambda: meter.completion_tokens == chunks)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: fake.closed_early == 1)
        assert not fake.records[0].finished
    assert meter.completion_tokens == chunks


def test_client_reads_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key comes from api_key_env (a placeholder when unset); the client never retries."""
    monkeypatch.delenv("ARENA_TEST_LLM_KEY", raising=False)
    options = LLMOptions(
        model="m", base_url="http://127.0.0.1:9/v1", api_key_env="ARENA_TEST_LLM_KEY"
    )
    actor = LLMActor(options)
    assert actor.endpoint.client.api_key == "sk-no-key"
    assert actor.endpoint.client.max_retries == 0
    assert actor.endpoint.client.timeout == 60.0
    assert actor.resource == "http://127.0.0.1:9/v1"
    monkeypatch.setenv("ARENA_TEST_LLM_KEY", "sk-secret")
    assert LLMActor(options).endpoint.client.api_key == "sk-secret"
    assert "sk-secret" not in repr(options)


def test_options_are_checked() -> None:
    """Bad option values are rejected with a message naming what is valid."""
    with pytest.raises(ValueError, match="auto, on, off"):
        LLMOptions(model="m", structured="maybe")
    with pytest.raises(ValueError, match="retries"):
        LLMOptions(model="m", retries=-1)


# ---------------------------------------------------------------------- speculator


async def test_speculator_returns_ranked_legal_moves() -> None:
    """Structured guesses come back legal, ranked, de-duplicated and cut to k; tokens metered."""
    answer = json.dumps(
        {
            "moves": [
                {"move": "e2e4", "prob": 0.5},
                {"move": "e2e4", "prob": 0.5},
                {"move": "d2d4", "prob": 0.3},
                {"move": "g1f3", "prob": 0.1},
                {"move": "c2c4", "prob": 0.05},
            ]
        }
    )
    meter = Meter()
    async with fake_openai([Reply(answer, prompt_tokens=60)]) as fake, speculator_on(fake) as s:
        guesses = await s.predict(START, 3, meter)
    assert guesses == [Guess("e2e4", 0.5), Guess("d2d4", 0.3), Guess("g1f3", 0.1)]
    fmt = fake.requests[0]["response_format"]["json_schema"]
    assert fmt["name"] == "moves"
    assert fmt["schema"]["properties"]["moves"]["maxItems"] == 3
    assert meter.prompt_tokens == 60 and meter.completion_tokens > 0


async def test_speculator_reads_a_free_text_ranked_list() -> None:
    """Without structured output, a plain ranked list is read."""
    script: list[Step] = [Reply("1. e4 (45%)\n2. d4 (35%)")]
    async with fake_openai(script) as fake, speculator_on(fake, structured="off") as s:
        guesses = await s.predict(START, 2, Meter())
    assert guesses == [Guess("e2e4", 0.45), Guess("d2d4", 0.35)]


@pytest.mark.parametrize(
    "step",
    [Reply("no idea, sorry"), Garbage(), Fail(500), Hang()],
    ids=["words", "garbage", "5xx", "hang"],
)
async def test_speculator_returns_nothing_on_failure(step: Step) -> None:
    """Garbage, errors and timeouts give [] and never raise."""
    async with fake_openai([step, step]) as fake, speculator_on(fake, timeout_s=0.3) as s:
        assert await s.predict(START, 3, Meter()) == []


def test_parallel_endpoints_are_not_a_shared_resource() -> None:
    """An endpoint on this machine is a resource calls compete for (watched, no own
    windows); a remote one, or one declared parallel, serves branches side by side."""
    local = LLMOptions(model="m", base_url="http://localhost:8080/v1")
    assert local.resource == "http://localhost:8080/v1"
    assert LLMOptions(model="m", base_url="http://[::1]:8080/v1").resource is not None
    assert LLMOptions(model="m", base_url="https://openrouter.ai/api/v1").resource is None
    assert LLMOptions(model="m").resource is None  # api.openai.com
    declared = parse_player_spec("llm:model=m,base_url=http://127.0.0.1:9/v1,parallel=true")
    assert declared.build().actor.resource is None
    assert LLMOptions(model="m", base_url="https://x.example/v1", parallel=False).resource == (
        "https://x.example/v1"
    )

"""The allow-lists for specs sent over the admin API, and specs as shown publicly."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.specpolicy import SpecPolicy, public_spec
from clients.players import PlayerSpecError


def test_engines_named_at_start_resolve_to_their_paths(tmp_path: Path) -> None:
    """`--engine NAME=PATH` adds an engine (over a Debian one of that name); a spec
    naming it runs that path; any other path is refused."""
    engine = tmp_path / "myengine"
    engine.write_text("#!/bin/sh\n")
    engine.chmod(0o755)
    policy = SpecPolicy.configured([f"mine={engine}"])
    assert policy.check("stockfish:path=mine,nodes=5") == f"stockfish:path={engine},nodes=5"
    assert policy.check(f"stockfish:path={engine}") == f"stockfish:path={engine}"
    with pytest.raises(PlayerSpecError, match="not allowed over the API"):
        policy.check("stockfish:path=/usr/bin/env")
    for bad in ("mine", "mine=", f"=/{engine}", "x=/nonexistent"):
        with pytest.raises(ValueError, match=r"NAME=PATH|not an executable"):
            SpecPolicy.configured([bad])


def test_key_variables_and_resources_are_bounded() -> None:
    """Only listed key variables (or none), threads up to the cores, a bounded hash."""
    policy = SpecPolicy(api_key_envs=frozenset({"MY_KEY"}))
    assert policy.check("llm:model=m,api_key_env=MY_KEY") == "llm:model=m,api_key_env=MY_KEY"
    assert policy.check("llm:model=m,api_key_env=") == "llm:model=m,api_key_env="
    for refused in ("llm:model=m", "llm:model=m,api_key_env=PATH", "stockfish:hash=100000"):
        with pytest.raises(PlayerSpecError):
            policy.check(refused)


def test_public_specs_hide_paths_urls_and_key_variables() -> None:
    """What public pages show of a spec."""
    spec = "llm:model=m,base_url=http://10.0.0.1/v1,api_key_env=SECRET,spec=llm,k=2"
    assert public_spec(spec) == "llm:model=m,spec=llm,k=2"
    assert public_spec("stockfish:path=/opt/sf") == "stockfish"
    assert public_spec("random") == "random"
    assert public_spec(None) is None

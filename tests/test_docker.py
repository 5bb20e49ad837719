"""docker-compose.yml, docker-compose.postgres.yml (two arenas on PostgreSQL behind a
proxy) and the Dockerfile are well formed, and every arena service runs a valid `arena`
command line (no Docker engine runs here, so this is what can be checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from arena.cli import main
from arena.clock import TimeControl
from arena.store import database_url
from clients.players import parse_player_spec
from clients.uci_bridge import parse_engine_options

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` substitution, with every variable unset (defaults
    apply; a variable without a default becomes ``x``)."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda m: m.group(2) if m.group(2) is not None else "x", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))
    return data


def resolve(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Parse ``args`` (after ``arena``) with the real CLI, strictly; returns the command
    path and the parsed parameters of the final command."""
    ctx = main.make_context("arena", list(args), resilient_parsing=False)
    path: list[str] = []
    command: click.Command = main
    while isinstance(command, click.Group):
        # click >= 8.2 keeps the subcommand and its arguments in _protected_args
        pending = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, rest = command.resolve_command(ctx, pending)
        assert name is not None and sub is not None, f"no subcommand in {args}"
        path.append(name)
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
        command = sub
    return path, ctx.params


def test_every_service_runs_a_valid_arena_command(compose: dict[str, Any]) -> None:
    """Each service's command is `arena ...` that the real CLI parses without error, and
    the values its command checks later (player spec, engine options, time control) are
    valid too."""
    services = compose["services"]
    assert {"arena", "stockfish-bot", "llm-bot"} <= set(services)
    seen = set()
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list) and command[0] == "arena", name
        path, params = resolve(command[1:])
        seen.add(" ".join(path))
        if path == ["bot", "run"]:
            parse_player_spec(params["player"])
        if path == ["bot", "uci"]:
            parse_engine_options(params["engine_options"])
        if params.get("seek_game"):
            TimeControl.parse(params["tc"])
    assert {"serve", "bot add", "bot uci", "bot run"} <= seen


def test_services_are_wired_together(compose: dict[str, Any]) -> None:
    """Bots wait for a healthy arena and connect to it by service name; tokens are written
    by the registrations onto the shared volume before anything reads them; the arena's
    health check asks /api/health; the database is on the volume."""
    services = compose["services"]
    volumes = set(compose["volumes"])
    token_files: dict[str, str] = {}
    for name, service in services.items():
        _, params = resolve(service["command"][1:])
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in services and rule["condition"] in CONDITIONS, (name, dep)
        for mount in service.get("volumes", []):
            assert mount.split(":")[0] in volumes, (name, mount)
        if params.get("token_file") and "url" not in params:  # a registration writes it
            token_files[str(params["token_file"])] = name
    arena = services["arena"]
    health = " ".join(arena["healthcheck"]["test"])
    assert "/api/health" in health and "8000" in health
    assert arena["environment"]["ARENA_DB"].startswith("/data/")
    for name in ("stockfish-bot", "llm-bot"):
        bot = services[name]
        _, params = resolve(bot["command"][1:])
        assert params["url"] == "ws://arena:8000/ws"
        assert bot["depends_on"]["arena"]["condition"] == "service_healthy"
        writer = token_files[params["token_file"]]
        assert services["arena"]["depends_on"][writer]["condition"] == (
            "service_completed_successfully"
        )
    llm_env = services["llm-bot"]["environment"]
    assert "LLM_API_KEY" in llm_env and "api_key_env=LLM_API_KEY" in str(
        services["llm-bot"]["command"]
    )


def test_llm_bot_is_configured_from_the_environment() -> None:
    """The LLM bot's model, endpoint and key come from LLM_MODEL, LLM_BASE_URL, LLM_API_KEY."""
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = " ".join(raw["services"]["llm-bot"]["command"])
    for variable in ("LLM_MODEL", "LLM_BASE_URL"):
        assert "${" + variable in command
    assert raw["services"]["llm-bot"]["environment"]["LLM_API_KEY"].startswith("${LLM_API_KEY")


def test_dockerfile_installs_the_engines_and_serves() -> None:
    """The image installs Debian's engines and the project, and its default command and
    health check are the arena's."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.MULTILINE)
    install = re.search(r"apt-get install[^\n]*", text)
    assert install is not None and {"stockfish", "toga2"} <= set(install.group(0).split())
    assert "pip install --no-cache-dir ." in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd is not None
    args = json.loads(cmd.group(1))
    assert args[0] == "arena" and resolve(args[1:])[0] == ["serve"]
    assert "/api/health" in text
    copied = re.findall(r"^COPY (\S+)", text, re.MULTILINE)
    for package in ("arena", "games", "clients", "web", "pyproject.toml"):
        assert package in copied and (ROOT / package).exists()


@pytest.fixture(scope="module")
def postgres_compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.postgres.yml").read_text()
    data: dict[str, Any] = interpolate(yaml.safe_load(text))
    return data


def test_postgres_profile_runs_two_arenas_on_one_database_behind_one_address(
    postgres_compose: dict[str, Any],
) -> None:
    """docker-compose.postgres.yml (profile ``postgres``): every arena service's command is
    a valid `arena` command line; two `arena serve` processes share one PostgreSQL URL
    naming the postgres service; nginx proxies websockets to both on one published port;
    the bots connect to the proxy; every service is in the profile."""
    services = postgres_compose["services"]
    volumes = set(postgres_compose["volumes"])
    serving = []
    for name, service in services.items():
        assert service.get("profiles") == ["postgres"], name
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in services and rule["condition"] in CONDITIONS, (name, dep)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source in volumes or (ROOT / source).exists(), (name, mount)
        if "command" not in service:
            continue
        command = service["command"]
        assert command[0] == "arena", name
        path, params = resolve(command[1:])
        if path == ["bot", "run"]:
            parse_player_spec(params["player"])
        if path == ["bot", "uci"]:
            parse_engine_options(params["engine_options"])
        if "url" in params:
            assert params["url"] == "ws://proxy:8000/ws", name
        if path == ["serve"]:
            serving.append(name)
            assert params["port"] == 8000 and params["host"] == "0.0.0.0"
            assert "/api/health" in " ".join(service["healthcheck"]["test"])
    assert serving == ["arena-1", "arena-2"]
    urls = {services[name]["environment"]["ARENA_DB"] for name in serving}
    assert len(urls) == 1
    url = urls.pop()
    assert database_url(url).startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    assert services["postgres"]["image"].startswith("postgres:")
    proxy = services["proxy"]
    assert proxy["ports"] == ["8000:8000"]
    assert set(proxy["depends_on"]) == {"arena-1", "arena-2"}
    conf_path = proxy["volumes"][0].split(":")[0]
    conf = (ROOT / conf_path).read_text()
    upstreams = re.findall(r"^\s*server\s+([\w-]+):8000", conf, re.MULTILINE)
    assert upstreams == serving
    assert "proxy_set_header Upgrade $http_upgrade" in conf and "listen 8000" in conf

# The arena server and its bots in one image (see docker-compose.yml).
#   docker build -t speculative-arena .
#   docker run -p 8000:8000 -v arena-data:/data speculative-arena
FROM python:3.11-slim-bookworm

# Debian's UCI engines for `arena bot uci`: Stockfish and Toga II (in /usr/games).
RUN apt-get update \
    && apt-get install -y --no-install-recommends stockfish toga2 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH="/usr/games:${PATH}" \
    PYTHONUNBUFFERED=1 \
    ARENA_DB=/data/arena.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY arena arena
COPY games games
COPY clients clients
COPY web web
RUN pip install --no-cache-dir .
# The examples run with `arena bot run examples/minimal_bot.py:RandomMover ...`.
COPY examples examples

RUN useradd --create-home --uid 1000 arena && mkdir -p /data && chown arena /data
USER arena
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=3)"]
CMD ["arena", "serve", "--host", "0.0.0.0", "--port", "8000"]

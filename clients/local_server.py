"""The process that serves the embedded model: llama.cpp's own server, through xllamacpp.

Run by :class:`clients.local_llm.LocalLLMServer` as
``python -m clients.local_server --model PATH ...``, never inside the arena's
process: a crash of llama.cpp (a bad model file, a CPU without AVX2, a signal)
ends this process only, and the arena reports it with the end of its output.

It loads the model, starts llama.cpp's OpenAI-compatible HTTP server on a
loopback port (chosen by the server when ``--port 0``), prints one line
``listening http://127.0.0.1:PORT`` on stdout, and then serves until its
standard input closes (the arena exited or closed it) or it gets SIGTERM.

The settings that matter for the arena (see docs/benchmarks.md, "The local model"):

- ``swa_full``: Gemma 3 uses sliding-window attention; without a full-size
  cache for those layers llama.cpp cannot reuse a cached prefix, and every move
  re-reads its whole prompt;
- ``n_parallel`` slots, each with a KV cache of its own: with more than one,
  the player's speculator and branches run beside its actor on one copy of the
  model (not the default: see :class:`clients.local_llm.LocalLLMOptions`);
- ``cache_prompt`` (llama.cpp's default) and the RAM prompt cache: a request
  starts from the longest cached prefix, in its slot or saved from another.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clients.local_server")
    parser.add_argument("--model", required=True, help="the GGUF file")
    parser.add_argument("--alias", default="gemma-3-270m", help="the model name it answers to")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--threads", type=int, default=1, help="threads for prompt and generation")
    parser.add_argument("--ctx", type=int, default=2048, help="context tokens per slot")
    parser.add_argument("--parallel", type=int, default=1, help="slots (requests side by side)")
    parser.add_argument("--batch", type=int, default=2048, help="logical batch (n_batch)")
    parser.add_argument("--ubatch", type=int, default=512, help="physical batch (n_ubatch)")
    parser.add_argument("--cache-ram-mib", type=int, default=256, help="RAM prompt cache")
    parser.add_argument(
        "--nice", type=int, default=0, help="CPU niceness (19: the lowest priority)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Serve until stdin closes or SIGTERM."""
    args = _parser().parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.parallel
    # A KV cache of its own per slot: a slot's cells always start at 0, so where
    # a prompt lands in the cache does not depend on the other slots.
    params.kv_unified = False
    params.n_ctx = args.ctx * args.parallel
    params.n_batch = args.batch
    params.n_ubatch = args.ubatch
    params.swa_full = True
    params.cache_prompt = True
    params.cache_ram_mib = args.cache_ram_mib
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.n_threads_http = 2
    params.sampling.temp = 0.0
    # Determinism (the lossless rule): the same prompt must give the same logits
    # whether its prefix came from the cache or not. ggml's repacked Q4_K kernels
    # (an "extra buffer type") and its CPU flash attention compute a row
    # differently depending on the batch it is in; without them a row's result
    # does not depend on how the prompt was split (docs/benchmarks.md).
    params.no_extra_bufts = True
    params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.endpoint_metrics = True
    server = xllamacpp.Server(params)
    if args.nice:
        # Loaded at normal priority (at nice 19 on a busy machine the model load
        # alone could take minutes); served at the lowest. Linux keeps a nice
        # value per thread: every thread of the process, the server's included.
        for task in os.listdir("/proc/self/task"):
            os.setpriority(os.PRIO_PROCESS, int(task), min(19, os.nice(0) + args.nice))
    print(f"listening {server.listening_address}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())

    def watch_stdin() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the arena is gone or closed the pipe
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True, name="stdin watch").start()
    stop.wait()
    del server  # stops the HTTP server and the main loop, frees the model


if __name__ == "__main__":
    main()

"""Scheduling priority of local worker processes: speculation runs on spare CPU only.

Speculative work (a branch search, a speculator's search) must never take CPU
from real work of any game. On Linux a process whose threads run under
``SCHED_IDLE`` gets a core only when no normal thread wants it: the kernel's
own notion of "spare capacity". A branch that turns out to be the real search
(a hit) is promoted back to ``SCHED_OTHER`` at that moment, which Linux allows
an unprivileged process to do for its own children (since 2.6.39, within
``RLIMIT_NICE``; nice 0 is always within it).

The policy is per thread, and a process's threads inherit it only when they
are created, so every thread of the process (``/proc/PID/task``) is set; a
thread an engine starts later (``setoption name Threads``) inherits the policy
of the thread that starts it.

Elsewhere (no ``os.sched_setscheduler``: macOS, Windows) priorities are left
alone: ``nice`` could lower a process but an unprivileged one could not raise
it again on a hit. :func:`supported` says which case applies.
"""

from __future__ import annotations

import enum
import logging
import os
from pathlib import Path

__all__ = ["Priority", "current_priority", "set_priority", "supported"]

log = logging.getLogger(__name__)


class Priority(enum.Enum):
    """What a worker process is doing."""

    NORMAL = "normal"
    """Real work: the move a game waits for."""
    IDLE = "idle"
    """Speculative work: runs only on CPU nothing else wants."""


def supported() -> bool:
    """Whether this platform can demote and promote processes (Linux ``SCHED_IDLE``)."""
    return hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")


def _threads(pid: int) -> list[int]:
    try:
        return [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return [pid]


def set_priority(pid: int, priority: Priority) -> bool:
    """Put every thread of process ``pid`` at ``priority``; False if it could not be done
    (unsupported platform, process gone, or refused: logged once per call)."""
    if not supported():
        return False
    policy = os.SCHED_IDLE if priority is Priority.IDLE else os.SCHED_OTHER
    done = True
    for tid in _threads(pid):
        try:
            os.sched_setscheduler(tid, policy, os.sched_param(0))
        except ProcessLookupError:
            continue  # a thread that ended meanwhile
        except OSError as exc:
            log.warning("cannot set %s priority on process %d: %s", priority.value, pid, exc)
            done = False
            break
    return done


def current_priority(pid: int) -> dict[int, Priority]:
    """The priority of each thread of ``pid`` (for tests and diagnostics)."""
    out: dict[int, Priority] = {}
    for tid in _threads(pid):
        try:
            policy = os.sched_getscheduler(tid)
        except ProcessLookupError:
            continue
        out[tid] = Priority.IDLE if policy == os.SCHED_IDLE else Priority.NORMAL
    return out

"""Scheduling priority of local worker processes: speculation runs on spare CPU only.

Speculative work (a branch search, a speculator's search) must never take CPU
from real work of any game. On Linux a process whose threads run under
``SCHED_IDLE`` gets a core only when no normal thread wants it: the kernel's
own notion of "spare capacity". A branch that turns out to be the real search
(a hit) is promoted back to ``SCHED_OTHER`` at that moment. Leaving
``SCHED_IDLE`` needs ``CAP_SYS_NICE`` (root has it) or an ``RLIMIT_NICE`` soft
limit of 20 or more (``ulimit -e``; the default, 0, refuses it). Where a
promotion would be refused, :func:`can_promote` says so and the engine actor
runs its branches at normal priority instead (a branch that became the real
search must never stay idle); speculator searches, which are never promoted,
still run idle.

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
import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SPARE_CPU",
    "Priority",
    "SpareCpu",
    "can_promote",
    "cpu_ms",
    "current_priority",
    "set_priority",
    "supported",
]

log = logging.getLogger(__name__)


class Priority(enum.Enum):
    """What a worker process is doing."""

    NORMAL = "normal"
    """Real work: the move a game waits for."""
    IDLE = "idle"
    """Speculative work: runs only on CPU nothing else wants."""


CAP_SYS_NICE = 23
"""The capability's bit in ``CapEff`` (``/proc/self/status``)."""


def supported() -> bool:
    """Whether this platform can put processes at idle priority (Linux ``SCHED_IDLE``)."""
    return hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")


@functools.cache
def can_promote() -> bool:
    """Whether this process may bring a child back from ``SCHED_IDLE`` to normal
    priority: ``CAP_SYS_NICE``, or an ``RLIMIT_NICE`` soft limit that allows nice 0."""
    if not supported():
        return False
    try:
        import resource

        if resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20:
            return True
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_NICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


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
    if priority is Priority.IDLE:
        _IDLE_PIDS.add(pid)
    else:
        _IDLE_PIDS.discard(pid)
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


def cpu_ms(pid: int) -> float | None:
    """CPU time used so far by every thread of ``pid``, in milliseconds (``None`` where
    the platform does not tell). From the scheduler's ``se.sum_exec_runtime``
    (``/proc/PID/task/TID/sched``, microsecond precision) where the kernel shows
    it, else from ``utime + stime`` (clock ticks, usually 10 ms)."""
    total = 0.0
    try:
        tids = _threads(pid)
        for tid in tids:
            text = Path(f"/proc/{pid}/task/{tid}/sched").read_text()
            line = next(x for x in text.splitlines() if x.startswith("se.sum_exec_runtime"))
            total += float(line.split(":")[1])
        return total
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


_IDLE_PIDS: set[int] = set()
"""This process's children now at idle priority (:func:`set_priority` keeps it)."""

SPARE_HORIZON_S = 0.5
"""The spare CPU is measured over at least this long (``/proc/stat`` counts in
ticks of 10 ms: a shorter span would be mostly rounding)."""


@dataclass(frozen=True, slots=True)
class _CpuSample:
    at: float
    idle_s: float
    """Machine-wide idle time so far, in CPU-seconds."""
    ours_s: float
    """CPU time of our idle-priority processes so far (they give way to anything)."""


class SpareCpu:
    """How much CPU this machine has to spare: the idle time of every core, plus the
    time taken by our own idle-priority processes (speculative searches, which
    give way to any other work), over the last :data:`SPARE_HORIZON_S` or more.

    Speculation on local engines pays only on spare cores: where every core runs
    a real search (as many games at once as cores), idle-priority branches find
    no CPU, their predictions come late, and the work around them (the
    speculator's replies, predictions on the wire, branches started and stopped,
    hash tables cleared in memory the real searches share) cost the real games
    13-18% (an engine match at concurrency 2 on 2 cores). Linux only; elsewhere
    :meth:`cores` is ``None``.
    """

    def __init__(self) -> None:
        self._samples: list[_CpuSample] = []
        self._last: tuple[float, float | None] = (-1.0, None)

    REUSE_S = 0.1
    """A reading is reused this long: players ask at every move (hundreds a second
    with several games at once), and each reading costs a few file reads."""

    def _sample(self) -> _CpuSample | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
            ticks = os.sysconf("SC_CLK_TCK")
            idle = (int(fields[4]) + int(fields[5])) / ticks  # idle + iowait
        except (OSError, ValueError, IndexError):
            return None
        ours = 0.0
        for pid in list(_IDLE_PIDS):
            used = cpu_ms(pid)
            if used is None:
                _IDLE_PIDS.discard(pid)  # gone
            else:
                ours += used / 1000.0
        return _CpuSample(time.monotonic(), idle, ours)

    def cores(self) -> float | None:
        """Cores to spare on average over the horizon (``None``: unknown yet)."""
        at, value = self._last
        if time.monotonic() - at < self.REUSE_S:
            return value
        value = self._measure()
        self._last = (time.monotonic(), value)
        return value

    def _measure(self) -> float | None:
        now = self._sample()
        if now is None:
            return None
        self._samples.append(now)
        old = [s for s in self._samples if now.at - s.at >= SPARE_HORIZON_S]
        if old:
            self._samples = [old[-1], *(s for s in self._samples if s.at > old[-1].at)]
            base = old[-1]
        elif len(self._samples) > 1:
            base = self._samples[0]
            if now.at - base.at < SPARE_HORIZON_S / 5:
                return None  # too short to tell
        else:
            return None
        span = now.at - base.at
        spare = (now.idle_s - base.idle_s) + max(0.0, now.ours_s - base.ours_s)
        return max(0.0, spare / span)


SPARE_CPU = SpareCpu()
"""The machine's spare CPU, shared by every player of this process."""

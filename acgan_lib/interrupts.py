"""Ctrl-C and SIGTERM: one story for every command - stop cleanly, exit code 130.

* Both signals raise :class:`KeyboardInterrupt` in the main thread (Python does that for SIGINT
  only; its default for SIGTERM kills the process without running any clean-up).  So every
  ``with`` block unwinds: temporary files are removed, the run lock is released, nothing is left
  half-written.  The command line installs this for its whole run (:func:`raising`), before it
  imports JAX, so a signal during start-up is handled like any other.
* The training loop replaces it while it runs (:func:`routed`): a signal then finishes the step
  in flight and saves a checkpoint - unless no step of this call has finished yet, when there is
  nothing to save and the signal raises at once.  That case matters: the first step includes
  XLA's compilation of the training iteration, minutes on a busy 2-core machine, and waiting for
  it is what made ``Ctrl-C`` during start-up look like a hang (issue 22 §3).
* A signal that arrives while a garbage-collector callback or a ``__del__`` runs (JAX registers
  one, ``_xla_gc_callback``) must not raise there: Python prints such an exception as "Exception
  ignored" and drops it, and the command went on as if nothing had happened (seen: a SIGTERM
  during start-up, then a 500-step run to the end).  The handler re-sends the signal 50 ms later
  instead, once the finaliser is done.
* After an interrupt the process leaves through :func:`exit_now` (``os._exit``) once the output
  is flushed: the clean-up has run by then, and a normal interpreter shutdown while XLA threads
  still compile or compute can block for minutes or crash.
"""
from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from typing import Callable, Iterator

EXIT_INTERRUPTED = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)


REDELIVER_S = 0.05


_COLLECTING = [False]   # a garbage collection is running (set by _track_collection while handlers are installed)


def _track_collection(phase: str, info: dict) -> None:
    _COLLECTING[0] = phase == "start"


def _inside_finaliser(frame) -> bool:
    """True while a ``__del__``, a garbage-collector callback or a collection runs (exceptions there are
    dropped: a collection also runs weakref callbacks, e.g. ``WeakKeyDictionary``'s, where a re-sent signal
    landed when a collection took longer than :data:`REDELIVER_S`)."""
    if _COLLECTING[0]:
        return True
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code.co_name == "__del__" or frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


def _deferred(signum: int, frame) -> bool:
    """Inside a finaliser: send ``signum`` again shortly (then handled normally) and say so."""
    if not _inside_finaliser(frame):
        return False
    timer = threading.Timer(REDELIVER_S, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()
    return True


def _raise(signum, frame) -> None:
    if not _deferred(signum, frame):
        raise KeyboardInterrupt


@contextlib.contextmanager
def _handlers(handler) -> Iterator[None]:
    """Install ``handler`` for SIGINT and SIGTERM inside the block (main thread only), then restore."""
    old = {}
    try:
        for sig in SIGNALS:
            old[sig] = signal.signal(sig, handler)
    except ValueError:   # not the main thread: signals keep their handlers
        pass
    gc.callbacks.append(_track_collection)
    try:
        yield
    finally:
        gc.callbacks.remove(_track_collection)
        for sig, h in old.items():
            signal.signal(sig, h)


def raising() -> contextlib.AbstractContextManager[None]:
    """Inside the block SIGINT and SIGTERM both raise KeyboardInterrupt."""
    return _handlers(_raise)


def routed(on_signal: Callable[[int], None]) -> contextlib.AbstractContextManager[None]:
    """Inside the block SIGINT and SIGTERM call ``on_signal(signum)`` (which may raise KeyboardInterrupt)."""
    def handler(signum, frame):
        if not _deferred(signum, frame):
            on_signal(signum)
    return _handlers(handler)


def ignored() -> contextlib.AbstractContextManager[None]:
    """Inside the block SIGINT and SIGTERM are ignored (e.g. while the final message is printed)."""
    return _handlers(signal.SIG_IGN)


def exit_now(code: int) -> None:
    """Flush stdout / stderr and end the process with ``code`` at once (no interpreter shutdown)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)

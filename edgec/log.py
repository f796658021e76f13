"""Logging, one rule: edgec writes progress to the ``edgec`` logger and its children (module
``__name__``s), never to the root logger and never with print, so an application decides what it
sees. The CLI shows the records through rich (edgec/cli_output.py), at the level that --verbose /
--quiet choose. A library call's ``verbose=True`` (``quiet=False``) keeps the old behaviour for
scripts: edgec's INFO records go to stderr for that call, unless the application has put its own
handler on the ``edgec`` logger. Bottom layer (like edgec.errors): imports nothing of edgec."""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys

LOGGER = logging.getLogger("edgec")
LOGGER.addHandler(logging.NullHandler())  # the library convention: no "no handler" warning, nothing printed


def progress(log: logging.Logger, message: str, done: int, total: int) -> None:
    """An INFO record that says how far a loop is (``extra['progress'] = (done, total)``): the CLI
    draws a bar on a terminal; plain handlers see the first, every quarter and the last."""
    log.info("%s %d/%d", message, done, total, extra={"progress": (done, total)})


class QuarterSteps(logging.Filter):
    """Lets through records without progress, and of progress records the first, one per quarter
    and the last (a line for each of 1000 calibration samples helps nobody)."""

    def filter(self, record: logging.LogRecord) -> bool:
        p = getattr(record, "progress", None)
        if p is None:
            return True
        done, total = p
        return done in (1, total) or done % max(1, total // 4) == 0


def _configured() -> bool:
    """Whether a handler is set on the ``edgec`` logger itself (the CLI's, or an application's)."""
    return any(not isinstance(h, logging.NullHandler) for h in LOGGER.handlers)


@contextlib.contextmanager
def to_stderr(enabled: bool):
    """For the duration of a call: edgec's INFO records on stderr as ``[edgec] message`` when
    ``enabled`` and no handler is set on the ``edgec`` logger (then that one shows them)."""
    if not enabled or _configured():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[edgec] %(message)s"))
    handler.addFilter(QuarterSteps())
    with attached(LOGGER, handler, min(LOGGER.getEffectiveLevel(), logging.INFO)):
        yield


@contextlib.contextmanager
def attached(logger: logging.Logger, handler: logging.Handler, level: int):
    """``handler`` on ``logger`` at ``level`` for the duration; both put back as they were."""
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def shows_progress(flag: str):
    """Decorator for a public function with a ``verbose`` (or ``quiet``) argument: its INFO
    records go to stderr for the call when verbose (not quiet), via ``to_stderr``."""
    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            value = bool(bound.arguments[flag])
            with to_stderr(not value if flag == "quiet" else value):
                return fn(*args, **kwargs)
        return call
    return wrap

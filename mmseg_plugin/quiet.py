"""Quiet console for the tools: library logs go to a file, the console keeps progress bars and results.

No paper equation. While ``quiet_logs(log_file)`` is active, what the libraries log is appended to ``log_file``
instead of the terminal: every mmengine ``MMLogger`` (environment, config dumps, hook tables, per-iteration lines,
"skipped since its requires_grad=False" warnings), including the loggers each new ``Runner`` creates (their terminal
handler is pointed at the file; its file handler in the run's own work_dir is untouched), other loggers' terminal
handlers, and Python warnings (deprecation notices). The tools' own ``print`` lines and tqdm progress bars (stderr)
stay on the terminal. Handlers that existed before are restored afterwards; loggers created inside keep writing to the
file, which stays open until the process exits. ``verbose=True`` makes the context a no-op (the full output).
``stdout_to_log()`` additionally sends plain ``print`` output of library calls to the same file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import os.path as osp
import sys
import warnings
from typing import IO, Iterator, List, Optional

__all__ = ["progress", "quiet_logs", "stdout_to_log"]

_OPEN_LOGS: dict = {}  # path -> open file: loggers created inside a context keep a reference to it
_ACTIVE: List[IO] = []  # the log files of the active contexts (innermost last)
_TERMINALS = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def progress(total: Optional[int] = None, desc: str = "", unit: str = "it", disable: bool = False, **kwargs):
    """A tqdm bar on stderr, left on screen when done."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, **kwargs)


def _log_file(path: str) -> IO:
    path = osp.abspath(path)
    f = _OPEN_LOGS.get(path)
    if f is None or f.closed:
        os.makedirs(osp.dirname(path), exist_ok=True)
        f = open(path, "a", buffering=1)
        _OPEN_LOGS[path] = f
    return f


def _loggers() -> List[logging.Logger]:
    out = [logging.getLogger()]
    out += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    try:
        from mmengine.logging import MMLogger

        out += list(MMLogger._instance_dict.values())
    except ImportError:  # pragma: no cover
        pass
    return out


def _terminal_handlers(logger: logging.Logger) -> Iterator[logging.StreamHandler]:
    for h in logger.handlers:
        if type(h) is logging.StreamHandler and any(h.stream is s for s in _TERMINALS + (sys.stdout, sys.stderr)):
            yield h


@contextlib.contextmanager
def quiet_logs(log_file: str, verbose: bool = False):
    """Route library logs to ``log_file`` while active (see the module docstring); yields its absolute path."""
    if verbose:
        yield None
        return
    f = _log_file(log_file)
    saved = [(h, h.stream) for lg in _loggers() for h in _terminal_handlers(lg)]
    for h, _ in saved:
        h.setStream(f)

    from mmengine.logging import MMLogger

    original_init = MMLogger.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        for h in _terminal_handlers(self):
            h.setStream(f)

    def showwarning(message, category, filename, lineno, file=None, line=None):
        f.write(warnings.formatwarning(message, category, filename, lineno, line))

    MMLogger.__init__ = init
    _ACTIVE.append(f)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = showwarning
            yield osp.abspath(log_file)
    finally:
        _ACTIVE.pop()
        MMLogger.__init__ = original_init
        for h, stream in saved:
            h.setStream(stream)
        f.flush()


def stdout_to_log():
    """Inside an active ``quiet_logs``: also send plain ``print`` output to its file (mmengine prints some lines, e.g.
    "Loads checkpoint by ... backend", with ``print``); wrap library calls, not the tool's own result lines.
    Without an active context: does nothing."""
    return contextlib.redirect_stdout(_ACTIVE[-1]) if _ACTIVE else contextlib.nullcontext()

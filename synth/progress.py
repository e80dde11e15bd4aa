"""What a long command is doing, on stderr, from its first second.

A command runs inside :func:`reporting`; the library marks its stages with :func:`stage`, which does
nothing when no command is reporting, so library calls stay silent. On a terminal each stage is a line
stamped with the time elapsed, written through tqdm so that it does not break the bars that give a loop's
ETA; elsewhere (logs, pipes) each stage is one plain line ``[command] stage ...``. Lines are held back for
the first second, so a fast command, or one that fails at once with its one-line error, prints only its
own output. Stdout is never touched: tables and JSON stay exactly what they are.
"""

import contextlib
import contextvars
import os
import sys
import threading
import time

# seconds before the first line: fast commands and fast failures print no progress ($SYNTH_PROGRESS_GRACE sets it)
GRACE = float(os.environ.get("SYNTH_PROGRESS_GRACE", "1.0"))
_active = contextvars.ContextVar("synth_progress_reporter", default=None)


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Reporter:
    """Stage lines of one command.

    Nothing is written during the first ``grace`` seconds: a command that ends (or fails with its one-line
    error) by then prints no progress at all. After that the lines held back are written, in order, and
    each new stage at once.

    Parameters
    ----------
    command : str
        Prefix of every line, e.g. ``"synth demo"``.
    stream : file-like
        Where the lines go (stderr).
    quiet : bool
        Print nothing and show no bars.
    grace : float, optional
        Seconds of silence at the start; default :data:`GRACE`.
    """

    def __init__(self, command, stream, quiet=False, grace=None):
        grace = GRACE if grace is None else grace  # read at call time, so that a test can lengthen it
        self.command, self.stream, self.quiet = command, stream, quiet
        self.tty = _isatty(stream)
        self.t0 = time.perf_counter()
        self._held, self._lock, self._timer, self._closed = [], threading.Lock(), None, False
        self._open = grace <= 0
        if not self._open and not quiet:
            self._timer = threading.Timer(grace, self.open)
            self._timer.daemon = True
            self._timer.start()

    def elapsed(self):
        return time.perf_counter() - self.t0

    def open(self):
        """End the grace period: write the lines held back."""
        with self._lock:
            if self._closed:
                return
            self._open = True
            for text in self._held:
                self._write(text)
            self._held = []

    def close(self):
        """Stop: lines still held back are dropped (the command was fast, or failed fast)."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed, self._held = True, []

    def line(self, text):
        if self.quiet:
            return
        stamp = int(self.elapsed())
        text = f"[{self.command} {stamp // 60}:{stamp % 60:02d}] {text}" if self.tty else f"[{self.command}] {text}"
        with self._lock:
            if self._closed:
                return
            if self._open:
                self._write(text)
            else:
                self._held.append(text)

    def _write(self, text):
        if self.tty:
            from tqdm.auto import tqdm

            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)


@contextlib.contextmanager
def reporting(command, quiet=False, stream=None, grace=None):
    """Report the stages of ``command`` on ``stream`` (default: stderr) while the block runs.

    A reporting block inside another one reuses the outer reporter.
    """
    if _active.get() is not None:
        yield _active.get()
        return
    reporter = Reporter(command, sys.stderr if stream is None else stream, quiet, grace)
    token = _active.set(reporter)
    try:
        yield reporter
    finally:
        _active.reset(token)
        reporter.close()


@contextlib.contextmanager
def muted():
    """No stage lines inside the block: a helper step's own stages would read as the command's."""
    outer = _active.get()
    token = _active.set(None if outer is None else Reporter(outer.command, outer.stream, quiet=True, grace=0))
    try:
        yield
    finally:
        _active.reset(token)


def stage(text):
    """Announce the stage that starts now, e.g. ``stage(f"fitting patch on {n:,} rows")``."""
    reporter = _active.get()
    if reporter is not None:
        reporter.line(f"{text} ...")


def show_bars(stream=None):
    """Whether tqdm bars should show: on a terminal, unless the reporting command is quiet."""
    reporter = _active.get()
    if reporter is not None:
        return reporter.tty and not reporter.quiet
    return _isatty(sys.stderr if stream is None else stream)

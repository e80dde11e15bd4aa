"""What a long command is doing, on stderr, from its first second, and on a terminal how long it has left.

A command runs inside :func:`reporting`; the library marks its stages with :func:`stage`, which does
nothing when no command is reporting, so library calls stay silent. On a terminal each stage is a line
stamped with the time elapsed, written through tqdm so that it does not break the bars that give a loop's
ETA; elsewhere (logs, pipes) each stage is one plain line ``[command] stage ...``. Lines are held back for
the first second, so a fast command, or one that fails at once with its one-line error, prints only its
own output. Stdout is never touched: tables and JSON stay exactly what they are.

The estimate of the time left. A job declares its steps ahead with :func:`plan` (or :func:`planned` on
a function): ``(key, weight)`` pairs in the order they run, the weight being the step's seconds in a
timing run on this project's 2-core machine, at sizes each plan states; only their ratios count. The
plan is computed from the job's arguments: steps an option leaves out are not in it, and weights grow
with the sizes where the timing runs showed how (n^2 for a k-NN test, rows for a corpus). A stage that
starts a step names it, ``stage(text, step=key)`` (or :func:`begin` when the work prints its own line);
the steps before it are then done. A plan entered inside a step divides that step's share among its own
steps (the patch fit inside ``synth fit``, the two-sample test inside ``synth demo``), so such a step
must be that one call: a step that makes several planned calls gets a plan of its own around them.

With ``done`` the summed share of the finished steps, reached ``t`` seconds into the plan, the job
should take ``t / done`` in all, and each stage line on a terminal carries what is left of that: at
the moment a step finishes this is ``t (1 - done) / done``. It is shown only once :data:`MIN_DONE` of
the plan is done (from less, the noise of the first steps is multiplied twenty-fold and more), in words
as coarse as it deserves ("about 40 s left", no seconds below ten), and dropped while a step runs past
it. The clock starts when the outermost plan is entered, or when its first step of some weight starts:
a step of weight 0 (reading or embedding the input, which no weight can foresee) is not counted. Only
a command whose work its outermost plans cover shows an estimate (``reporting(..., estimate=True)``):
in ``bench fidelity`` the patch fit's plan would estimate one fit of many, as if it were the command.

What the estimate does not know: the weights move with the machine's load (a fog fit slows more than a
patch fit on a busy machine), with the sizes beyond what the plans scale, and with the data: the patch
fit's copy guard backing off repeats steps the plan counted once. A step already done that starts again
moves nothing and drops the estimate until the work passes the furthest step reached, since how many
times it repeats nobody knows. Hence "about". Loops keep their tqdm bars, whose ETA is measured on the
loop itself, and a command that is one loop needs no plan.
"""

import contextlib
import contextvars
import functools
import inspect
import os
import sys
import threading
import time

# seconds before the first line: fast commands and fast failures print no progress ($SYNTH_PROGRESS_GRACE sets it)
GRACE = float(os.environ.get("SYNTH_PROGRESS_GRACE", "1.0"))
MIN_DONE = 0.05  # share of a plan done before the time left is estimated
clock = time.perf_counter  # the reporters' clock (a test may replace it)
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
    estimate : bool
        Estimate the time left from the outermost plans: the command's work is their steps. Left False
        for a command that only meets the library's plans here and there (a patch fit inside ``bench
        fidelity``'s loop), whose estimate would cover that part alone and read as the command's.
    """

    def __init__(self, command, stream, quiet=False, grace=None, estimate=False):
        grace = GRACE if grace is None else grace  # read at call time, so that a test can lengthen it
        self.command, self.stream, self.quiet, self.estimate = command, stream, quiet, estimate
        self.tty = _isatty(stream)
        self.t0 = clock()
        self._held, self._lock, self._timer, self._closed = [], threading.Lock(), None, False
        self._plans = []  # the plans entered and not left, outermost first: [{key: (start, end)}, current key]
        self._start = self._done = self._t_done = 0.0  # when the outermost plan began; share done, reached when
        self._back = False  # a step done was started again: no estimate until the work passes where it was
        self._open = grace <= 0
        if not self._open and not quiet:
            self._timer = threading.Timer(grace, self.open)
            self._timer.daemon = True
            self._timer.start()

    def elapsed(self):
        return clock() - self.t0

    def enter_plan(self, steps):
        """Start a plan of ``(key, weight)`` steps inside the current step (the whole job when none); its
        first step starts now."""
        steps = [(key, float(weight)) for key, weight in steps]
        if not self._plans:
            self._start, self._done, self._t_done, self._back = self.elapsed(), 0.0, 0.0, False
            lo, hi = 0.0, 1.0
        else:
            ranges, current = self._plans[-1]
            lo, hi = ranges.get(current, (self._done, self._done))
        total, acc, ranges = sum(w for _, w in steps), 0.0, {}
        for key, weight in steps if total > 0 else ():
            # a key twice is a slip (tests/test_progress.py checks the plans): its first step stands
            ranges.setdefault(key, (lo + (hi - lo) * acc / total, lo + (hi - lo) * (acc + weight) / total))
            acc += weight
        self._plans.append([ranges, steps[0][0] if ranges else None])

    def leave_plan(self):
        self._plans.pop()
        if not self._plans:  # a later plan of the same command starts its own estimate
            self._done = self._t_done = 0.0

    def mark(self, step):
        """Step ``step`` of the innermost plan starts: the steps before it are done."""
        if not self._plans or step not in self._plans[-1][0]:
            return
        self._plans[-1][1] = step
        start = self._plans[-1][0][step][0]
        if start > self._done:
            self._done, self._t_done, self._back = start, self.elapsed() - self._start, False
        elif start == self._done == 0:  # steps of weight 0 before it (reading the input): the clock starts now
            self._start = self.elapsed()
        elif self._plans[-1][0][step][1] <= self._done:  # back to a step done: how often, the plan cannot say
            self._back = True

    def time_left(self):
        """Seconds the plan should still take, or None: no plan, too little done, or running past it."""
        if not self.estimate or not self._plans or self._done < MIN_DONE or self._back:
            return None
        left = self._t_done / self._done - (self.elapsed() - self._start)
        return left if left > 0 else None

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
        if self.tty:
            stamp, left = int(self.elapsed()), self.time_left()
            eta = "" if left is None else f", {about(left)} left"
            text = f"[{self.command} {stamp // 60}:{stamp % 60:02d}{eta}] {text}"
        else:
            text = f"[{self.command}] {text}"
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
def reporting(command, quiet=False, stream=None, grace=None, estimate=False):
    """Report the stages of ``command`` on ``stream`` (default: stderr) while the block runs; ``estimate``:
    see :class:`Reporter`.

    A reporting block inside another one reuses the outer reporter.
    """
    if _active.get() is not None:
        yield _active.get()
        return
    reporter = Reporter(command, sys.stderr if stream is None else stream, quiet, grace, estimate)
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


def stage(text, step=None):
    """Announce the stage that starts now, e.g. ``stage(f"fitting patch on {n:,} rows")``.

    ``step``: the key of the step of the current :func:`plan` that this stage starts, if it starts one
    (a stage inside a step, without it, only reports).
    """
    reporter = _active.get()
    if reporter is not None:
        if step is not None:
            reporter.mark(step)
        reporter.line(f"{text} ...")


def begin(step):
    """Step ``step`` of the current :func:`plan` starts, announced by the stage line the work itself prints."""
    reporter = _active.get()
    if reporter is not None:
        reporter.mark(step)


@contextlib.contextmanager
def plan(steps):
    """Declare the steps of the job the block runs, for the estimate of the time left (see the module).

    Parameters
    ----------
    steps : iterable of (key, weight)
        In the order they run; ``weight`` is the step's measured share of the job's time (any scale: the
        weights are divided by their sum). The first step starts with the block; :func:`stage` with
        ``step=key`` starts the others. Inside a step of an enclosing plan, the steps divide that step's
        share. Nothing happens when no command is reporting.
    """
    reporter = _active.get()
    if reporter is None or reporter.quiet:
        yield
        return
    reporter.enter_plan(steps)
    try:
        yield
    finally:
        reporter.leave_plan()


def planned(steps):
    """Decorator: the function runs inside ``plan(steps(**arguments))``, ``arguments`` being its own
    arguments by name, defaults filled in (``steps`` takes the ones it needs and ``**_``)."""
    def decorate(f):
        signature = inspect.signature(f)

        @functools.wraps(f)
        def run(*args, **kwargs):
            reporter = _active.get()
            if reporter is None or reporter.quiet:
                return f(*args, **kwargs)
            try:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                ahead = steps(**bound.arguments)
            except Exception:  # an estimate is never worth a failed command: the function reports its own errors
                return f(*args, **kwargs)
            with plan(ahead):
                return f(*args, **kwargs)
        return run
    return decorate


def about(seconds):
    """``seconds`` in words as coarse as an estimate deserves: "a few seconds", "about 25 s", "about 4 min",
    "about 1 h 10 min"."""
    if seconds < 10:
        return "a few seconds"
    if 5 * round(seconds / 5) < 60:
        return f"about {5 * round(seconds / 5)} s"
    if round(seconds / 60) < 60:
        return f"about {round(seconds / 60)} min"
    hours, minutes = divmod(10 * round(seconds / 600), 60)
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")


def show_bars(stream=None, command_only=False):
    """Whether tqdm bars should show: on a terminal, unless the reporting command is quiet; with
    ``command_only`` (a library function's own bar), only inside a reporting command."""
    reporter = _active.get()
    if reporter is not None:
        return reporter.tty and not reporter.quiet
    return not command_only and _isatty(sys.stderr if stream is None else stream)

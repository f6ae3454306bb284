"""``attnsim sweep``: the cartesian product of workload lists and ranges, streamed to CSV or JSON.

Rows go to a temporary file beside the target and are moved into place only
when the sweep finishes, so an interrupted sweep never leaves a half-written
target; it says where the rows it did finish are (``-o -`` streams them to
standard output, notes and progress to stderr). A sweep still running after
PARALLEL_AFTER_S (or whose rest would) continues on every usable core: forked
workers that inherit the warm caches and compiled kernels, each point of one
lowered grid in the same worker, rows still written in input order.
"""

import json
import multiprocessing
import os
import signal
import sys
import time

import click

from cli._files import check_target, finish, temp_beside, user_mode
from cli._output import echo_notes
from cli._workload_opts import echo_refused, expand_points, skips_refused, workload_options
from einsum_cascades.errors import UserError

PROGRESS_AFTER_S = 1.0  # show a progress bar only for sweeps that run longer than this
LOG_EVERY_S = 10.0  # without a terminal, a progress line this often
# Points are evaluated in chunks (dense GPU points of a chunk share one columns evaluation), then written.
# Chunks start small and double while a chunk takes under CHUNK_SECONDS, so slow (sparse, causal)
# sweeps still write rows and move the progress bar often.
FIRST_CHUNK, MAX_CHUNK, CHUNK_SECONDS = 16, 4096, 0.1
PARALLEL_AFTER_S = 1.0  # a sweep still running after this long, or whose rest would take longer at the rate of its
# latest chunk, forks workers for the rest of its points
TASKS_PER_JOB = 4  # the rest is cut into about this many tasks per worker (points that share lowered patterns
# and schedules go together, see _tasks; rows are still written in input order)
MAX_JOBS = 256
_POINTS: list = []  # the sweep's points, inherited by forked workers (never pickled)
_ENCODE = None  # the output stream's row encoder, inherited by the workers
_SKIP = False  # a matrix of kernels and shapes: a point its kernel refuses is left out (cli._workload_opts.skips_refused)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@workload_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the rows: FILE.csv or FILE.json (columns as simulate --format json keys), or - "
                   "for standard output (notes and progress go to stderr).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="csv or json [default: the -o file's extension; csv for -o -].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), default=None,
              help="Worker processes for a sweep that outlasts a second [default: the usable CPU cores; 1: no "
                   "workers].")
def sweep(output, fmt, quiet, jobs, **opts):
    """Evaluate every combination of the workload options, one row per point.

    --hw, --algo, the sizes (--seq-len, --kv-len, --batch, --heads, --kv-heads, --head-dim, --v-head-dim),
    --num-splits and --sparsity take a single value, a comma list, or a range: sizes 1k..1m (powers of two),
    floats 0..0.99 (10 even steps) or 0..0.99:n; every other option takes one value (a sweep for each).

    \b
    Examples:
      attnsim sweep --hw a100,h100,h200,b200 --seq-len 1k..1m -o scaling.csv
      attnsim sweep --hw h100 --algo flash2,flash3 --seq-len 32k --sparsity 0..0.95:20 -o sparsity.json
      attnsim sweep --hw fusemax,flat --model bert --seq-len 1k..1m --baseline unfused@flat -o fusemax.csv
      attnsim sweep --hw h100 --seq-len 1k..64k -o - --format json | jq '.[].time_s'
    """
    global _SKIP
    target = None if output == "-" else check_target(output, (".csv", ".json"))
    kind = (fmt or "csv") if target is None else _file_format(target, fmt)
    points = expand_points(opts)
    _SKIP = skips_refused(points)
    jobs = jobs or usable_cores()
    if target is None:  # rows as they are evaluated; an interrupted sweep's are what was written
        done, notes, refused = _write(points, _STREAMS[kind](sys.stdout), quiet, jobs, None)
    else:
        fd, tmp = temp_beside(target)
        with os.fdopen(fd, "w", newline="") as fh:
            done, notes, refused = _write(points, _STREAMS[kind](fh), quiet, jobs, tmp)
    if refused and done == 0:  # no point of the matrix runs: the first refusal is the error
        if target is not None:
            os.unlink(tmp)
        raise UserError(refused[0])
    if target is not None:
        finish(tmp, target)
    echo_refused(refused, len(points))
    echo_notes(notes, done)
    click.echo(f"wrote {done} row{'' if done == 1 else 's'} to {target or 'standard output'}", err=True)


def _file_format(target, fmt: str | None) -> str:
    """The format of an -o file, its extension's; a --format that names another is a mistake, not a choice."""
    kind = target.suffix.lower().lstrip(".")
    if fmt is not None and fmt != kind:
        raise UserError(f"bad --format {fmt}: -o {target} is a .{kind} file; leave --format out or name a .{fmt} file")
    return kind


def _write(points, stream, quiet: bool, jobs: int, tmp: str | None) -> tuple[int, list, list]:
    """Evaluate the points into ``stream``: (rows written, their notes, why points were refused). Ctrl-C ends
    the sweep with status 130, saying where the finished rows are (``tmp``, or standard output)."""
    done, notes, refused = 0, [], []
    try:
        for note in _evaluate(points, stream, quiet, jobs, refused):
            done += 1
            if note:
                notes.append(note)
    except BaseException as err:
        stream.close()
        if not _interrupt(err):
            if tmp is not None:
                os.unlink(tmp)
            raise
        if tmp is not None:
            user_mode(tmp)
        click.echo(f"attnsim: interrupted after {done + len(refused)} of {len(points)} points; finished rows are in "
                   f"{tmp or 'standard output'}", err=True)
        sys.exit(130)
    stream.close()
    return done, notes, refused


def _interrupt(err: BaseException) -> bool:
    """Ctrl-C, also when it lands inside a numba kernel's call, which CPython then reports as a SystemError
    ('returned a result with an exception set') caused by the KeyboardInterrupt."""
    return isinstance(err, KeyboardInterrupt) or (isinstance(err, SystemError)
                                                  and isinstance(err.__cause__ or err.__context__, KeyboardInterrupt))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _evaluate(points, stream, quiet, jobs, refused: list):
    """Yield each written point's note (None for most); a progress bar appears if the sweep outlasts
    PROGRESS_AFTER_S, and the rest of the points go to ``jobs`` forked workers once the sweep has run, or its rest
    would run, longer than PARALLEL_AFTER_S. In a matrix (``_SKIP``) a point its kernel refuses is not written:
    why goes to ``refused``."""

    start, bar, task, workers = time.perf_counter(), None, None, None
    show = not quiet and sys.stderr.isatty()
    log = _PlainProgress(len(points), start) if not quiet and not show else None  # stderr to a file or pipe
    parallel = jobs > 1 and _can_fork()
    first, chunk, projected = 0, FIRST_CHUNK, 0.0
    try:
        while first < len(points):
            if parallel and (time.perf_counter() - start > PARALLEL_AFTER_S or projected > PARALLEL_AFTER_S):
                if show and bar is None:  # the bar's refresh thread starts after the fork
                    bar, task = _start_bar(len(points), fork_first=True)
                stream.fh.flush()  # a forked worker that flushes its copy of stdout's buffer would write it twice
                workers = _parallel(points, first, chunk, jobs, bar, stream.encode)
                for rows, done in workers:
                    for note, encoded in rows:
                        if encoded is None:  # refused: the note is why
                            refused.append(note)
                            continue
                        stream.write_encoded(encoded)
                        yield note
                    if bar is not None:
                        bar.update(task, completed=done)
                    if log is not None:
                        log.update(done)
                break
            began = time.perf_counter()
            for row in _rows(points[first:first + chunk]):
                if isinstance(row, str):  # refused
                    refused.append(row)
                    continue
                stream.write(row)
                yield row["note"]
            first += chunk
            took = time.perf_counter() - began
            projected = took / chunk * (len(points) - first)  # the rest at this chunk's rate
            if took < CHUNK_SECONDS:  # fast (dense) points: evaluate more together
                chunk = min(2 * chunk, MAX_CHUNK)
            # a parallel sweep starts its bar with the workers (above)
            if show and bar is None and not parallel and time.perf_counter() - start > PROGRESS_AFTER_S:
                bar, task = _start_bar(len(points))
            if bar is not None:
                bar.update(task, completed=min(first, len(points)))
            if log is not None:
                log.update(min(first, len(points)))
    finally:
        if workers is not None:  # ends the workers now, wherever the interrupt or error struck
            workers.close()
        if bar is not None:
            bar.stop()


class _PlainProgress:
    """Progress where no bar can be drawn (stderr is a file or a pipe: CI logs, nohup): a line every LOG_EVERY_S."""

    def __init__(self, total: int, start: float):
        self.total, self.start, self.last = total, start, start

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= LOG_EVERY_S and done < self.total:
            self.last = now
            click.echo(f"attnsim: sweep {done:,} of {self.total:,} points ({done / self.total:.0%}) after "
                       f"{now - self.start:.0f} s", err=True)


def _can_fork() -> bool:
    """Linux only: macOS offers fork, but system frameworks a process has loaded are not safe across it."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _parallel(points, first: int, chunk: int, jobs: int, bar, encode):
    """Yield ([(note, encoded row)], points done) as the rows of points[first:] become ready in input order,
    evaluated by up to ``jobs`` forked workers in tasks (``_tasks``), which encode them (``encode``: the output
    stream's, so this process only writes them). Workers ignore Ctrl-C; the interrupt reaches this process, which
    ends them. A worker that dies (killed, out of memory) ends the sweep with one line, never a hang."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    global _POINTS, _ENCODE
    rest = len(points) - first
    tasks = _tasks(points, first, max(chunk, -(-rest // (jobs * TASKS_PER_JOB))))
    _POINTS, _ENCODE = points, encode
    pool = ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(_schedules(points, tasks),))
    try:
        pending = {pool.submit(_run_task, members): members for members in tasks}
        if bar is not None:
            bar.start()  # after the fork; a no-op if it already runs
        ready, done, written = {}, first, first
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: pending[f][0]):  # the earliest task's error first
                members = pending.pop(future)
                ready.update(zip(members, future.result()))
                done += len(members)
            rows = []
            while written in ready:
                rows.append(ready.pop(written))
                written += 1
            yield rows, done
    except BrokenProcessPool:
        raise click.ClickException("a sweep worker process ended abruptly (killed, or out of memory?); "
                                   "run again with --jobs 1") from None
    finally:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        _POINTS, _ENCODE = [], None


def _tasks(points, first: int, size: int) -> list[list[int]]:
    """The indices of points[first:] cut into worker tasks of at most ``size``, in order of first appearance.
    Masked points with equal ``share_key`` (the same mask at the same shape, whatever the hardware, batch, heads
    or sparsity) go in the same task, so no two workers lower or schedule the same grid; dense points go in
    contiguous runs (what they share, a columns evaluation, needs nothing more)."""
    from simulator.api import share_key

    groups: dict = {}
    for i in range(first, len(points)):
        key = share_key(points[i])
        groups.setdefault(("run", (i - first) // size) if key is None else key, []).append(i)
    return [members[j:j + size] for members in groups.values() for j in range(0, len(members), size)]


def _schedules(points, tasks: list[list[int]]) -> bool:
    """Whether some task holds masked points (``_tasks`` keeps them apart from dense ones: its first point says),
    whose CTAs the workers schedule one grid at a time."""
    from simulator.api import share_key

    return any(share_key(points[members[0]]) is not None for members in tasks)


def _start_worker(schedules: bool) -> None:
    """A worker ignores Ctrl-C (the parent ends it). One that will schedule masked points' CTAs loads numba's
    dispatch kernels at once (``schedule.load_kernels``): its share of a sweep that outlasts a second pays for
    them, where each worker had dispatched its first million CTAs on heapq and run its occupancy loops in Python
    before loading them anyway (the 7,260-point sparse sweep of bench/: 3.5 s to 2.6 s on 2 cores). Either way the
    same steps give the same rows (simulator.schedule, cta_work.occupancy_span)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if schedules:
        from simulator.schedule import load_kernels

        load_kernels()


def _rows(points: list) -> list:
    """The points' rows; in a matrix (``_SKIP``), a refused point's place holds why (a str)."""
    from simulator.api import rows_of, run_points_or_refusals

    return run_points_or_refusals(points) if _SKIP else rows_of(points, {})


def _run_task(members: list[int]) -> list[tuple]:
    """(note, encoded row) per member, in order; (why, None) for a point its kernel refused (``_rows``)."""
    return [(row, None) if isinstance(row, str) else (row["note"], _ENCODE(row))
            for row in _rows([_POINTS[i] for i in members])]


def _start_bar(total: int, fork_first: bool = False):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("sweep", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    if not fork_first:  # else started once the workers are forked (no refresh thread across a fork)
        bar.start()
    return bar, bar.add_task("sweep", total=total)


class _CsvStream:
    def __init__(self, fh):
        self.fh, self.writer, self.cells = fh, None, None

    def write(self, row: dict) -> None:
        import csv

        from cli._output import CsvCells

        if self.writer is None:  # the first row names the columns of every row
            self.writer, self.cells = csv.writer(self.fh, lineterminator="\n"), CsvCells(list(row), row)
            self.writer.writerow(self.cells.keys)
        self.writer.writerow(self.cells.cells(row))

    def encode(self, row: dict) -> list | dict:
        """The row's cells, for ``write_encoded``; the row itself until the first row has named the columns."""
        return row if self.cells is None else self.cells.cells(row)

    def write_encoded(self, encoded: list | dict) -> None:
        if type(encoded) is dict:
            self.write(encoded)
        else:
            self.writer.writerow(encoded)

    def close(self) -> None:
        self.fh.flush()


class _JsonStream:
    """A JSON list written row by row; ``close`` ends the list so partial files still parse."""

    def __init__(self, fh):
        self.fh, self.first, self.closed = fh, True, False
        fh.write("[")

    def write(self, row: dict) -> None:
        self.write_encoded(self.encode(row))

    @staticmethod
    def encode(row: dict) -> str:
        return json.dumps(row)

    def write_encoded(self, text: str) -> None:
        self.fh.write(("\n" if self.first else ",\n") + text)
        self.first = False

    def close(self) -> None:
        if not self.closed:
            self.fh.write("\n]\n")
            self.fh.flush()
            self.closed = True


_STREAMS = {"csv": _CsvStream, "json": _JsonStream}

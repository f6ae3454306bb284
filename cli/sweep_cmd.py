"""``attnsim sweep``: the cartesian product of workload lists and ranges, streamed to CSV or JSON.

Rows go to a temporary file beside the target and are moved into place only
when the sweep finishes, so an interrupted sweep never leaves a half-written
target; it says where the rows it did finish are.
"""

import json
import os
import sys
import time

import click

from cli._files import check_target, finish, temp_beside, user_mode
from cli._output import echo_notes
from cli._workload_opts import expand_points, workload_options

PROGRESS_AFTER_S = 1.0  # show a progress bar only for sweeps that run longer than this
# Points are evaluated in chunks (dense GPU points of a chunk share one columns evaluation), then written.
# Chunks start small and double while a chunk takes under CHUNK_SECONDS, so slow (sparse, causal)
# sweeps still write rows and move the progress bar often.
FIRST_CHUNK, MAX_CHUNK, CHUNK_SECONDS = 16, 4096, 0.1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@workload_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the rows: FILE.csv or FILE.json (columns as simulate --format json keys).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(output, quiet, **opts):
    """Evaluate every combination of the workload options, one row per point.

    Every workload option takes a single value, a comma list, or a range:
    sizes 1k..1m (powers of two), floats 0..0.99 (10 even steps) or 0..0.99:n.

    \b
    Examples:
      attnsim sweep --hw a100,h100,h200,b200 --seq-len 1k..1m -o scaling.csv
      attnsim sweep --hw h100 --algo flash2,flash3 --seq-len 32k --sparsity 0..0.95:20 -o sparsity.json
      attnsim sweep --hw fusemax,flat --model bert --seq-len 1k..1m --baseline unfused@flat -o fusemax.csv
    """
    target = check_target(output, (".csv", ".json"))
    points = expand_points(opts)
    writer = _CsvStream if target.suffix.lower() == ".csv" else _JsonStream
    fd, tmp = temp_beside(target)
    done, notes = 0, []
    with os.fdopen(fd, "w", newline="") as fh:
        stream = writer(fh)
        try:
            for note in _evaluate(points, stream, quiet):
                done += 1
                if note:
                    notes.append(note)
        except KeyboardInterrupt:
            stream.close()
            user_mode(tmp)
            click.echo(f"attnsim: interrupted after {done} of {len(points)} points; finished rows are in {tmp}", err=True)
            sys.exit(130)
        except BaseException:
            stream.close()
            os.unlink(tmp)
            raise
        stream.close()
    finish(tmp, target)
    echo_notes(notes, len(points))
    click.echo(f"wrote {len(points)} rows to {target}", err=True)


def _evaluate(points, stream, quiet):
    """Yield each evaluated point's note (None for most); a progress bar appears if the sweep outlasts
    PROGRESS_AFTER_S."""
    from simulator.api import run_points

    start, bar, task = time.perf_counter(), None, None
    show = not quiet and sys.stderr.isatty()
    first, chunk = 0, FIRST_CHUNK
    try:
        while first < len(points):
            began = time.perf_counter()
            for row in run_points(points[first:first + chunk]):
                stream.write(row)
                yield row["note"]
            first += chunk
            if time.perf_counter() - began < CHUNK_SECONDS:  # fast (dense) points: evaluate more together
                chunk = min(2 * chunk, MAX_CHUNK)
            if show and bar is None and time.perf_counter() - start > PROGRESS_AFTER_S:
                bar, task = _start_bar(len(points))
            if bar is not None:
                bar.update(task, completed=min(first, len(points)))
    finally:
        if bar is not None:
            bar.stop()


def _start_bar(total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("sweep", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    bar.start()
    return bar, bar.add_task("sweep", total=total)


class _CsvStream:
    def __init__(self, fh):
        self.fh, self.writer, self.cells = fh, None, None

    def write(self, row: dict) -> None:
        import csv

        from cli._output import CsvCells

        if self.writer is None:
            self.writer, self.cells = csv.writer(self.fh, lineterminator="\n"), CsvCells(list(row), row)
            self.writer.writerow(self.cells.keys)
        self.writer.writerow(self.cells.cells(row))

    def close(self) -> None:
        self.fh.flush()


class _JsonStream:
    """A JSON list written row by row; ``close`` ends the list so partial files still parse."""

    def __init__(self, fh):
        self.fh, self.first, self.closed = fh, True, False
        fh.write("[")

    def write(self, row: dict) -> None:
        self.fh.write(("\n" if self.first else ",\n") + json.dumps(row))
        self.first = False

    def close(self) -> None:
        if not self.closed:
            self.fh.write("\n]\n")
            self.fh.flush()
            self.closed = True

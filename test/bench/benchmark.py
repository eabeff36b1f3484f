"""Benchmark octopus-pack's packer against Info-ZIP `zip`, 7-Zip and Python's `zipfile`, as users run it.

Usage:
    python3 test/bench/benchmark.py [--issue] [--quick] [--corpora stdlib,node_modules,large,tiny]
                              [--levels optimal,fast] [--repeat N] [--markdown FILE] [--delta]
                              [--workdir DIR] [--tools pipe-zip,pipe-nupkg,...,zip,7z,zipfile]
                              [--synthetic-node-modules]

    python3 test/bench/benchmark.py --issue                  # the issue-12 table: stdlib + node_modules, 3 rounds,
                                                       # every tool and isolating row, ~9 minutes on 2 cores
    python3 test/bench/benchmark.py --quick                  # smoke run, ~2 minutes
    python3 test/bench/benchmark.py --repeat 3 --markdown benchmark-results.md

Corpora (built once, cached in --workdir, default /tmp/octopus-pack-bench; never committed):
    stdlib        this interpreter's standard library, without site-packages/dist-packages (~240 MB)
    node_modules  `npm install` of a pinned package list (corpora.NODE_PACKAGES: webpack, typescript, eslint,
                  babel, react, mui, rxjs, date-fns, core-js, ...; ~26,700 files, 130 MB) when npm is on
                  PATH; otherwise, or with --synthetic-node-modules, a generated tree with the same
                  distribution of file sizes and depths
    large         4 big files, ~1 GB: half log/source-like text (deflates ~3x), half random; ~100 MB with --quick
    tiny          50,000 files of 0-4 KB, ~100 per directory; 5,000 with --quick

Every packer runs as a fresh child process: ours as `python3 pipe/pipe.py` configured by environment
(ID, FORMAT, VERSION, SOURCE_PATH, OUTPUT_PATH, COMPRESSION_LEVEL, OVERWRITE), `zip -r -q -6|-1` and
`7z a -tzip -mmt=2 -mx5|-mx1` (when 7z is installed) from inside the tree, and a small `zipfile` script at
level 6|1. Rows that isolate one effect run the same pipe with one optimisation taken away: one worker
thread; no storing of incompressible data (every large file deflated); no libdeflate (zlib-ng for every file).
Before timing, each corpus is read once and each tool run once on a one-file tree, untimed, so all read from
the page cache and start warm. With --repeat N the tools take turns N times (alternating rounds, so a burst
of other load hits every tool alike) and the median wall time is reported with the fastest-slowest spread.
Reported: wall time, MB/s of input, CPU time (with the workers it reaps), peak memory (the larger of wait4's
peak RSS and the highest summed PSS of its processes, sampled every 20 ms in one extra untimed run, since
sampling slows a run),
output size, time/size ratios to `zip` at the same level, and the pipe's start-up cost. Every package of
ours is checked (testzip, exactly one entry per file of the tree) and the product targets are marked
PASS/FAIL. --delta adds test/bench/bench_octodiff.py's numbers when octopus_pack.octodiff is importable.

Exit status: 0, or 1 when any run failed or wrote a broken package (missed targets do not fail it).
The machine may be shared: the report shows the load average before and after; prefer --repeat 3 or more.
"""

import argparse
import datetime
import importlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarking.corpora import CORPUS_NAMES, Corpus, prepare_corpus, recipes_for, warm_page_cache
from benchmarking.measure import (
    DEFLATE_LEVELS,
    PIPE_ENTRY,
    REPO_ROOT,
    TOOL_NAMES,
    Measurement,
    measure_level,
    measure_start_up,
    tools_for,
    warm_up,
)
from benchmarking.report import Report

DEFAULT_WORKDIR = Path("/tmp/octopus-pack-bench")
BENCH_DIR = Path(__file__).resolve().parent
DELTA_MODULE = "bench_octodiff"
ISSUE_CORPORA = ["stdlib", "node_modules"]
ISSUE_REPEAT = 3


def log(message: str) -> None:
    """Progress goes to stderr so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpora (large ~100 MB, tiny 5,000 files)")
    parser.add_argument("--issue", action="store_true",
                        help=f"the issue-12 table: corpora {','.join(ISSUE_CORPORA)}, every tool, "
                             f"at least {ISSUE_REPEAT} rounds (about 9 minutes on 2 cores)")
    parser.add_argument("--synthetic-node-modules", action="store_true",
                        help="generate the node_modules corpus even when npm is available")
    parser.add_argument(
        "--corpora",
        type=choices(CORPUS_NAMES),
        default=None,
        help=f"comma-separated subset of {','.join(CORPUS_NAMES)} (default: all; {','.join(ISSUE_CORPORA)} "
             "with --issue)",
    )
    parser.add_argument(
        "--levels",
        type=choices(tuple(DEFLATE_LEVELS)),
        default=list(DEFLATE_LEVELS),
        help="comma-separated subset of optimal,fast",
    )
    parser.add_argument(
        "--tools",
        type=choices(TOOL_NAMES),
        default=list(TOOL_NAMES),
        help=f"comma-separated subset of {','.join(TOOL_NAMES)} (zip is the ratio baseline)",
    )
    parser.add_argument("--repeat", type=positive_int, default=1, help="rounds; the median wall is reported")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the report as Markdown")
    parser.add_argument("--delta", action="store_true", help="add the octodiff delta benchmark section")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="corpus cache and scratch output")
    args = parser.parse_args(argv)
    if args.corpora is None:
        args.corpora = ISSUE_CORPORA if args.issue else list(CORPUS_NAMES)
    if args.issue:
        args.repeat = max(args.repeat, ISSUE_REPEAT)
    return args


def choices(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated subset, kept in the canonical order."""

    def parse(text: str) -> list[str]:
        picked = {item.strip() for item in text.split(",") if item.strip()}
        unknown = picked - set(allowed)
        if unknown or not picked:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)} (got {text!r})")
        return [name for name in allowed if name in picked]

    return parse


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --------------------------------------------------------------------------- environment


def ensure_infozip() -> None:
    """The reference rows need Info-ZIP; install it the way the Debian-based image would."""
    if shutil.which("zip"):
        return
    log("Info-ZIP `zip` is not installed: installing it with `apt-get install -y zip`")
    if subprocess.run(["apt-get", "install", "-y", "zip"], check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], check=False)
        subprocess.run(["apt-get", "install", "-y", "zip"], check=False)
    if not shutil.which("zip"):
        sys.exit("benchmark: could not install Info-ZIP `zip`, which every ratio is taken against")


def describe_run(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The facts a reader needs to compare two reports: when, on what, with which settings."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {zip_version()}"
    mode = "issue-12 (--issue)" if args.issue else "quick (--quick)" if args.quick else "full"
    return [
        ("date", now),
        ("machine", machine),
        ("commit", git_commit()),
        ("mode", f"{mode}, median of {args.repeat} alternating round(s), levels {','.join(args.levels)}"),
        ("workdir", str(args.workdir)),
        ("units", "MB = 2^20 bytes; MB/s = input MB / wall; time/zip and size/zip against zip at the same level"),
    ]


def zip_version() -> str:
    done = subprocess.run(["zip", "-v"], capture_output=True, text=True, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("This is Zip")), "")
    return line.removeprefix("This is ").split(" (")[0] or "zip (version unknown)"


def git_commit() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


# --------------------------------------------------------------------------- benchmark


def benchmark_corpus(corpus: Corpus, args: argparse.Namespace, out_dir: Path) -> list[Measurement]:
    """Every chosen tool at every chosen level on one corpus, after warming the page cache."""
    log(f"corpus {corpus.name}: warm-up read took {warm_page_cache(corpus):.1f} s (untimed)")
    rows = []
    for level in args.levels:
        for row in measure_level(tools_for(level, args.tools), corpus, level, out_dir, args.repeat):
            timing = f"{row.wall_s:.2f} s (runs {row.spread} s), {row.mb_per_s:.1f} MB/s"
            outcome = f"FAILED: {row.problem}" if row.problem else timing
            log(f"  {corpus.name}@{level} {row.label}: {outcome}")
            rows.append(row)
    return rows


def warm_up_tools(args: argparse.Namespace, out_dir: Path) -> None:
    """Run every tool once on a one-file tree, so the first timed run pays no start-up costs of its own."""
    for label, problem in warm_up(tools_for(args.levels[0], args.tools), out_dir).items():
        log(f"warm-up {label}: {f'FAILED: {problem}' if problem else 'ok'}")


def load_average() -> str:
    """Other work on this (shared) machine skews wall times; the report says how busy it was."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run_delta_benchmark(quick: bool) -> tuple[dict[str, object] | None, str]:
    """test/bench/bench_octodiff.py's numbers when it and octopus_pack.octodiff exist, else why not."""
    sys.path.insert(0, str(REPO_ROOT / "pipe"))
    try:
        importlib.import_module("octopus_pack.octodiff")
    except ImportError as error:
        return None, f"skipped: octopus_pack.octodiff is not importable ({error})"
    if not (BENCH_DIR / f"{DELTA_MODULE}.py").is_file():
        return None, f"skipped: test/bench/{DELTA_MODULE}.py does not exist"
    try:
        function = getattr(importlib.import_module(DELTA_MODULE), "run_delta_benchmark", None)
    except Exception as error:  # a half-written helper must not cost the packing results
        return None, f"skipped: test/bench/{DELTA_MODULE}.py does not import ({type(error).__name__}: {error})"
    if not callable(function):
        return None, f"skipped: test/bench/{DELTA_MODULE}.py has no run_delta_benchmark()"
    size_mb = 64 if quick else 256
    log(f"delta: run_delta_benchmark(size_mb={size_mb}) ...")
    try:
        results = dict(function(size_mb=size_mb))
    except Exception as error:  # report it rather than lose the packing results above
        return None, f"failed: run_delta_benchmark raised {type(error).__name__}: {error}"
    return results, f"test/bench/{DELTA_MODULE}.py: run_delta_benchmark(size_mb={size_mb}), in this process"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "zip" in args.tools:
        ensure_infozip()
    notes = []
    if any(tool.startswith("pipe-") for tool in args.tools) and not PIPE_ENTRY.is_file():
        notes.append(f"note: {PIPE_ENTRY.relative_to(REPO_ROOT)} does not exist yet, so the pipe rows fail")
    corpora_dir, out_dir = args.workdir / "corpora", args.workdir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)

    recipes = recipes_for(args.corpora, args.quick, args.synthetic_node_modules)
    corpora = [prepare_corpus(recipe, corpora_dir, log) for recipe in recipes]
    context = describe_run(args)
    load_before = load_average()
    warm_up_tools(args, out_dir)
    if any(tool.startswith("pipe-") for tool in args.tools):
        context += measure_start_up(out_dir, args.repeat)
    rows = [row for corpus in corpora for row in benchmark_corpus(corpus, args, out_dir)]
    context.append(("load average (1/5/15 min)", f"{load_before} before, {load_average()} after"))
    report = Report(context, corpora, rows, notes)
    if args.delta:
        report.delta, report.delta_note = run_delta_benchmark(args.quick)
        if report.delta is None:
            log(f"delta: {report.delta_note}")

    print(report.to_text(), end="")
    if args.markdown:
        args.markdown.write_text(report.to_markdown())
        log(f"wrote {args.markdown}")
    return 1 if any(row.problem for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

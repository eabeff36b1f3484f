"""Run each packer as a fresh child process and measure it: wall time, CPU, its own peak RSS, output size."""

import contextlib
import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from benchmarking.corpora import MIB, Corpus

REPO_ROOT = Path(__file__).resolve().parents[3]
PIPE_ENTRY = REPO_ROOT / "pipe" / "pipe.py"

# Our level names and the deflate level the reference tools use for the same intent.
DEFLATE_LEVELS = {"optimal": 6, "fast": 1}
SEVEN_ZIP_LEVELS = {"optimal": 5, "fast": 1}  # 7-Zip's own "normal" and "fastest"
# Rows that isolate one effect each: our pipe with one thing taken away (see PIPE_VARIANTS).
ISOLATING_TOOLS = ("pipe-one-worker", "pipe-store-nothing", "pipe-no-libdeflate", "pipe-no-isal")
TOOL_NAMES = ("pipe-zip", "pipe-nupkg", *ISOLATING_TOOLS, "zip", "7z", "zipfile")
PACKAGE_VERSION = "1.0.0"
RUN_TIMEOUT_S = 1800

# What the reference `zipfile` row runs: the obvious pure-Python packer, one zf.write per file.
ZIPFILE_SCRIPT = """
import os, sys, zipfile
out, root, level = sys.argv[1], sys.argv[2], int(sys.argv[3])
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            zf.write(path, os.path.relpath(path, root))
"""

# How an isolating row runs the pipe: this wrapper takes one optimisation away, then runs pipe/pipe.py as
# `python3 pipe/pipe.py` would. Benchmark-only: the pipe has no switch for these.
PIPE_VARIANT_SCRIPT = """
import runpy, sys
pipe_entry, variant = sys.argv[1], sys.argv[2]
sys.argv = [pipe_entry]
sys.path.insert(0, pipe_entry.rsplit("/", 1)[0])
if variant == "one-worker":
    import functools
    from octopus_pack.pack import packager
    packager.ZipWorkers = functools.partial(packager.ZipWorkers, workers=1)
elif variant == "store-nothing":
    from octopus_pack.pack import zip_writer
    zip_writer._worth_deflating = lambda entry, deflater: True
elif variant == "no-libdeflate":
    from octopus_pack.pack import compression
    compression._libdeflate = None
elif variant == "no-isal":
    from octopus_pack.pack import compression
    compression._isal = None
else:
    sys.exit(f"unknown variant {variant}")
runpy.run_path(pipe_entry, run_name="__main__")
"""
PIPE_VARIANTS = {
    "pipe-one-worker": ("one-worker", "pipe zip, 1 worker"),
    "pipe-store-nothing": ("store-nothing", "pipe zip, deflate all"),
    "pipe-no-libdeflate": ("no-libdeflate", "pipe zip, zlib-ng only"),
    "pipe-no-isal": ("no-isal", "pipe zip, no ISA-L"),
}


@dataclass(frozen=True)
class Invocation:
    """One child process to start, and the single file it is expected to leave behind."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] | None  # None: inherit ours
    output: Path
    package_format: str | None  # "zip"/"nupkg" for our pipe (outputs get verified), None for references


@dataclass(frozen=True)
class Tool:
    """A packer at one level under test: `label` in the table, `invocation` its command for a corpus."""

    name: str
    label: str
    invocation: Callable[[Corpus, Path], Invocation]

    def is_ours(self) -> bool:
        return self.name.startswith("pipe-")


@dataclass(frozen=True)
class ChildRun:
    """What one child process cost: CPU as the kernel accounted it to the child and the workers it reaped.

    peak_rss_kb is the larger of the kernel's peak RSS (the largest single process of the tree) and, in an
    extra untimed run, the highest sum of PSS over all its processes, sampled: forked workers share pages with
    their parent, so adding their RSS would count those pages twice, and the largest process alone would hide
    the workers.
    """

    wall_s: float
    cpu_s: float
    peak_rss_kb: int
    returncode: int
    output_tail: str


@dataclass
class Measurement:
    """One row of the report: the median of --repeat runs of one tool on one corpus at one level."""

    corpus: str
    level: str
    tool: str  # Tool.name, e.g. "pipe-zip"; ratios are taken against the row whose tool is "zip"
    label: str  # Tool.label, as the table shows it
    input_bytes: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_kb: int = 0  # the highest over all repeats, so a target on it is never flattered
    output_bytes: int = 0
    verified: bool | None = None  # None: not checked (reference tools)
    problem: str | None = None  # why the run failed or its output is invalid
    walls: list[float] = field(default_factory=list)  # every run, in round order
    cpus: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def spread(self) -> str:
        """Fastest and slowest run, so a reader sees how noisy the machine was."""
        return f"{min(self.walls):.2f}-{max(self.walls):.2f}" if self.walls else "-"

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / MIB / self.wall_s if self.wall_s else 0.0

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024


# --------------------------------------------------------------------------- tools


def pipe_tool(package_format: str, level: str, variant: str | None = None) -> Tool:
    """Our pipe exactly as users run it: `python3 pipe/pipe.py`, configured only through its environment.

    variant names an isolating row (PIPE_VARIANTS): the same run with one optimisation taken away.
    """

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        package_id = f"bench-{corpus.name}" + (f"-{variant}" if variant else "")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "ID": package_id,
            "FORMAT": package_format,
            "VERSION": PACKAGE_VERSION,
            "SOURCE_PATH": str(corpus.path),
            "OUTPUT_PATH": str(out_dir),
            "COMPRESSION_LEVEL": level,
            "OVERWRITE": "true",
        }
        output = out_dir / f"{package_id}.{PACKAGE_VERSION}.{package_format}"
        argv = [sys.executable, str(PIPE_ENTRY)]
        if variant:
            argv = [sys.executable, "-c", PIPE_VARIANT_SCRIPT, str(PIPE_ENTRY), PIPE_VARIANTS[variant][0]]
        return Invocation(argv, REPO_ROOT, env, output, package_format)

    if variant:
        return Tool(variant, PIPE_VARIANTS[variant][1], invocation)
    return Tool(f"pipe-{package_format}", f"pipe {package_format}", invocation)


def infozip_tool(level: str) -> Tool:
    """Info-ZIP run from inside the tree with `.` as input, so entry names match ours; output outside."""
    deflate = DEFLATE_LEVELS[level]

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        output = out_dir / f"infozip-{corpus.name}.zip"
        return Invocation(["zip", "-r", "-q", f"-{deflate}", str(output), "."], corpus.path, None, output, None)

    return Tool("zip", f"zip -{deflate}", invocation)


def seven_zip_tool(level: str) -> Tool:
    """7-Zip's multi-threaded zip writer on 2 threads, run from inside the tree like Info-ZIP."""
    mx = SEVEN_ZIP_LEVELS[level]

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        output = out_dir / f"7z-{corpus.name}.zip"
        argv = ["7z", "a", "-tzip", "-mmt=2", f"-mx{mx}", "-bso0", "-bsp0", str(output), "."]
        return Invocation(argv, corpus.path, None, output, None)

    return Tool("7z", f"7z -mx{mx}", invocation)


def zipfile_tool(level: str) -> Tool:
    """Python's own zipfile, the baseline a hand-written packing step would get."""
    deflate = DEFLATE_LEVELS[level]

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        output = out_dir / f"zipfile-{corpus.name}.zip"
        argv = [sys.executable, "-c", ZIPFILE_SCRIPT, str(output), str(corpus.path), str(deflate)]
        return Invocation(argv, out_dir, None, output, None)

    return Tool("zipfile", f"zipfile {deflate}", invocation)


def tools_for(level: str, names: list[str]) -> list[Tool]:
    """The chosen tools at one level, ours first, reference `zip` being the one ratios are taken against.

    7z is left out when it is not installed (Debian: p7zip-full).
    """
    every = {
        "pipe-zip": pipe_tool("zip", level),
        "pipe-nupkg": pipe_tool("nupkg", level),
        **{name: pipe_tool("zip", level, variant=name) for name in ISOLATING_TOOLS},
        "zip": infozip_tool(level),
        "7z": seven_zip_tool(level),
        "zipfile": zipfile_tool(level),
    }
    if not shutil.which("7z"):
        del every["7z"]
    return [every[name] for name in TOOL_NAMES if name in names and name in every]


# --------------------------------------------------------------------------- running


# Why a shell stands between us and each packer: at exec the kernel folds the peak RSS of the address space
# being replaced into the process's ru_maxrss. A child forked (or vforked) from this benchmark would thus
# report at least the benchmark's own peak, not the packer's. So a ~1 MB `sh` forks the packer instead,
# holds it until the shell itself has exited (so the shell cannot reap it first), and prints its pid;
# as child subreaper we inherit the orphan, release it through a pipe, and wait4() it for its own rusage.
HOLD_AND_FORK = 'exec 3<&0; ( read -r go <&3; exec "$@" 3<&- ) >&2 & echo $!'
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Make orphaned descendants (the held packers) our children, so os.wait4 can reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def start_held(invocation: Invocation, log: IO[bytes]) -> tuple[int, int]:
    """Fork the packer from a small shell, blocked before exec; returns its pid and the fd that releases it."""
    hold_read, hold_write = os.pipe()
    try:
        shell = subprocess.run(
            ["sh", "-c", HOLD_AND_FORK, "sh", *invocation.argv],
            cwd=invocation.cwd,
            env=invocation.env,
            stdin=hold_read,
            stdout=subprocess.PIPE,
            stderr=log,
            check=True,
        )
    except BaseException:
        os.close(hold_write)
        raise
    finally:
        os.close(hold_read)
    return int(shell.stdout), hold_write


class TreeMemorySampler:
    """Samples the summed PSS of a process and its descendants every few ms, in a thread, while it runs."""

    INTERVAL_S = 0.02

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak_kb

    def _sample(self) -> None:
        while not self.done.wait(self.INTERVAL_S):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _descendants(self.pid)))


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):  # it has just exited
            pending += [int(child) for child in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_child(invocation: Invocation, sample_memory: bool = False) -> ChildRun:
    """Run one packer to completion; wall time from its release, rusage (CPU, peak RSS) its very own."""
    invocation.output.unlink(missing_ok=True)  # zip would otherwise update an existing archive
    become_subreaper()
    with tempfile.TemporaryFile() as log:
        pid, release = start_held(invocation, log)
        watchdog = threading.Timer(RUN_TIMEOUT_S, os.kill, (pid, signal.SIGKILL))
        try:
            started = time.perf_counter()
            os.close(release)
            watchdog.start()
            memory = TreeMemorySampler(pid) if sample_memory else None
            _pid, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - started
            tree_peak_kb = memory.stop() if memory else 0
        except BaseException:  # e.g. Ctrl-C: the packer ignores SIGINT as a background job, so end it here
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
            raise
        finally:
            watchdog.cancel()
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
    cpu = usage.ru_utime + usage.ru_stime
    peak = max(usage.ru_maxrss, tree_peak_kb)  # both KiB
    return ChildRun(wall, cpu, peak, os.waitstatus_to_exitcode(status), tail)


def measure_level(tools: list[Tool], corpus: Corpus, level: str, out_dir: Path, repeat: int) -> list[Measurement]:
    """Each tool `repeat` times, round-robin, so a burst of other load on the machine hits all tools alike."""
    rows = [Measurement(corpus.name, level, tool.name, tool.label, corpus.total_bytes) for tool in tools]
    for _round in range(repeat):
        for tool, row in zip(tools, rows, strict=True):
            if row.ok:
                run_and_record(tool, corpus, out_dir, row)
    for tool, row in zip(tools, rows, strict=True):  # sampling slows a run by up to 20%: never time these
        if row.ok:
            invocation = tool.invocation(corpus, out_dir)
            row.peak_rss_kb = max(row.peak_rss_kb, run_child(invocation, sample_memory=True).peak_rss_kb)
            invocation.output.unlink(missing_ok=True)
    return rows


def run_and_record(tool: Tool, corpus: Corpus, out_dir: Path, row: Measurement) -> None:
    """One run into `row` (the median wall is kept); our package is verified once, then every output deleted."""
    invocation = tool.invocation(corpus, out_dir)
    run = run_child(invocation)
    row.peak_rss_kb = max(row.peak_rss_kb, run.peak_rss_kb)
    if run.returncode != 0 or not invocation.output.is_file():
        row.problem = _failure(run, invocation.output)
        row.wall_s, row.cpu_s = run.wall_s, run.cpu_s
        return
    row.walls.append(run.wall_s)
    row.cpus.append(run.cpu_s)
    row.wall_s, row.cpu_s = statistics.median(row.walls), statistics.median(row.cpus)
    row.output_bytes = invocation.output.stat().st_size  # the same every run for every tool here
    if invocation.package_format and row.verified is None:
        row.problem = verify_package(invocation.output, invocation.package_format, corpus)
        row.verified = row.problem is None
    invocation.output.unlink()


def warm_up(tools: list[Tool], scratch: Path) -> dict[str, str | None]:
    """One untimed run of each tool on a one-file tree: loads binaries and compiles .pyc before timing starts.

    Returns each tool's problem (None when it worked), so a broken packer shows up before the long runs.
    """
    tree = scratch / "warm-up-tree"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "hello.txt").write_text("hello\n")
    corpus = Corpus("warm-up", tree, ("hello.txt",), 6)
    problems = {}
    for tool in tools:
        row = Measurement(corpus.name, "warm-up", tool.name, tool.label, corpus.total_bytes)
        run_and_record(tool, corpus, scratch, row)
        problems[tool.label] = row.problem
    return problems


def _failure(run: ChildRun, output: Path) -> str:
    last_line = next((line for line in reversed(run.output_tail.splitlines()) if line.strip()), "")
    if run.returncode != 0:
        return f"exit code {run.returncode}: {last_line}".strip()
    return f"exit code 0 but no {output.name} was written"


# --------------------------------------------------------------------------- verification

# Parts every nupkg carries besides the packed files (OPC packaging), which a tree never contains.
NUPKG_PACKAGING_PREFIXES = ("_rels/", "package/services/metadata/")
NUPKG_PACKAGING_NAMES = ("[Content_Types].xml",)


def verify_package(path: Path, package_format: str, corpus: Corpus) -> str | None:
    """None when the package is a sound zip holding exactly the tree's files, else what is wrong."""
    try:
        with zipfile.ZipFile(path) as archive:
            corrupt = archive.testzip()
            names = [name for name in archive.namelist() if not name.endswith("/")]
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        return f"not a readable zip: {error}"
    if corrupt is not None:
        return f"bad CRC or data in entry {corrupt}"
    if package_format == "nupkg":
        nuspecs = [name for name in names if "/" not in name and name.endswith(".nuspec")]
        if len(nuspecs) != 1:
            return f"expected one .nuspec at the root, found {len(nuspecs)}"
        names = [unquote(name) for name in names if not _is_nupkg_packaging(name) and name not in nuspecs]
    return _compare_entries(names, corpus)


def _is_nupkg_packaging(name: str) -> bool:
    return name in NUPKG_PACKAGING_NAMES or name.startswith(NUPKG_PACKAGING_PREFIXES)


def _compare_entries(names: list[str], corpus: Corpus) -> str | None:
    if len(names) != corpus.file_count:
        return f"{len(names):,} file entries for {corpus.file_count:,} files in the tree"
    missing = sorted(set(corpus.files) - set(names))
    if missing:
        return f"{len(missing):,} files missing or misnamed, e.g. {missing[0]}"
    return None


def measure_start_up(scratch: Path, repeat: int) -> list[tuple[str, str]]:
    """What a run costs before any packing: the pipe on a one-file tree, next to a bare interpreter.

    Start-up is paid on every corpus, so it bounds the ratio to zip on small trees.
    """
    tree = scratch / "warm-up-tree"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "hello.txt").write_text("hello\n")
    corpus = Corpus("start-up", tree, ("hello.txt",), 6)
    bare = Invocation([sys.executable, "-c", "open(__import__('sys').argv[1], 'w').close()",
                       str(scratch / "bare.out")], scratch, None, scratch / "bare.out", None)
    pipe = pipe_tool("zip", "optimal").invocation(corpus, scratch)
    facts = []
    for label, invocation in (("python3 -c (bare interpreter)", bare), ("pipe zip of a one-file tree", pipe)):
        runs = [run_child(invocation) for _ in range(max(repeat, 3))]
        walls = sorted(run.wall_s for run in runs)
        facts.append((f"start-up: {label}", f"{statistics.median(walls):.3f} s wall (median of {len(runs)}), "
                      f"{max(run.peak_rss_kb for run in runs) / 1024:.1f} MB peak RSS"))
        invocation.output.unlink(missing_ok=True)
    return facts

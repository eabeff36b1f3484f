"""Run each packer as a fresh child process and measure it: wall time, CPU, its own peak RSS, output size."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from benchmarking.corpora import MIB, Corpus

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPE_ENTRY = REPO_ROOT / "pipe" / "pipe.py"

# Our level names and the deflate level the reference tools use for the same intent.
DEFLATE_LEVELS = {"optimal": 6, "fast": 1}
TOOL_NAMES = ("pipe-zip", "pipe-nupkg", "zip", "zipfile")
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
    """What one child process cost, as the kernel accounted it to that child alone."""

    wall_s: float
    cpu_s: float
    peak_rss_kb: int
    returncode: int
    output_tail: str


@dataclass
class Measurement:
    """One row of the report: the best of --repeat runs of one tool on one corpus at one level."""

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

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / MIB / self.wall_s if self.wall_s else 0.0

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024


# --------------------------------------------------------------------------- tools


def pipe_tool(package_format: str, level: str) -> Tool:
    """Our pipe exactly as users run it: `python3 pipe/pipe.py`, configured only through its environment."""

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        package_id = f"bench-{corpus.name}"
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
        return Invocation([sys.executable, str(PIPE_ENTRY)], REPO_ROOT, env, output, package_format)

    return Tool(f"pipe-{package_format}", f"pipe {package_format}", invocation)


def infozip_tool(level: str) -> Tool:
    """Info-ZIP run from inside the tree with `.` as input, so entry names match ours; output outside."""
    deflate = DEFLATE_LEVELS[level]

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        output = out_dir / f"infozip-{corpus.name}.zip"
        return Invocation(["zip", "-r", "-q", f"-{deflate}", str(output), "."], corpus.path, None, output, None)

    return Tool("zip", f"zip -{deflate}", invocation)


def zipfile_tool(level: str) -> Tool:
    """Python's own zipfile, the baseline a hand-written packing step would get."""
    deflate = DEFLATE_LEVELS[level]

    def invocation(corpus: Corpus, out_dir: Path) -> Invocation:
        output = out_dir / f"zipfile-{corpus.name}.zip"
        argv = [sys.executable, "-c", ZIPFILE_SCRIPT, str(output), str(corpus.path), str(deflate)]
        return Invocation(argv, out_dir, None, output, None)

    return Tool("zipfile", f"zipfile {deflate}", invocation)


def tools_for(level: str, names: list[str]) -> list[Tool]:
    """The chosen tools at one level, ours first, reference `zip` being the one ratios are taken against."""
    every = {
        "pipe-zip": pipe_tool("zip", level),
        "pipe-nupkg": pipe_tool("nupkg", level),
        "zip": infozip_tool(level),
        "zipfile": zipfile_tool(level),
    }
    return [every[name] for name in TOOL_NAMES if name in names]


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


def run_child(invocation: Invocation) -> ChildRun:
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
            _pid, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - started
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
    return ChildRun(wall, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status), tail)  # maxrss: KiB


def measure_level(tools: list[Tool], corpus: Corpus, level: str, out_dir: Path, repeat: int) -> list[Measurement]:
    """Each tool `repeat` times, round-robin, so a burst of other load on the machine hits all tools alike."""
    rows = [Measurement(corpus.name, level, tool.name, tool.label, corpus.total_bytes) for tool in tools]
    for _round in range(repeat):
        for tool, row in zip(tools, rows, strict=True):
            if row.ok:
                run_and_record(tool, corpus, out_dir, row)
    return rows


def run_and_record(tool: Tool, corpus: Corpus, out_dir: Path, row: Measurement) -> None:
    """One run into `row` (best wall wins); our package is verified once, then every output is deleted."""
    invocation = tool.invocation(corpus, out_dir)
    run = run_child(invocation)
    row.peak_rss_kb = max(row.peak_rss_kb, run.peak_rss_kb)
    if run.returncode != 0 or not invocation.output.is_file():
        row.problem = _failure(run, invocation.output)
        row.wall_s, row.cpu_s = run.wall_s, run.cpu_s
        return
    if not row.wall_s or run.wall_s < row.wall_s:
        row.wall_s, row.cpu_s = run.wall_s, run.cpu_s
        row.output_bytes = invocation.output.stat().st_size
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

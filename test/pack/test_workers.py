"""Forked workers that deflate entries: errors come in plan order, a dead worker is named, none outlives the pipe."""

import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from fixtures_pipe import PIPE_ENTRY
from octopus_pack.errors import PipeError
from octopus_pack.pack import zip_writer
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.workers import usable_cores
from octopus_pack.pack.zip_writer import ArchiveEntry, write_zip
from test_zip_writer import make_files


def small_files(folder: Path, count: int) -> list[ArchiveEntry]:
    return make_files(folder, {f"f{number:03}.txt": b"octopus deploy " * (number + 1) for number in range(count)})


def children_of_this_process() -> set[str]:
    children = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            children.update((task / "children").read_text().split())
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return children


@pytest.fixture
def no_new_children():
    """Other tests' servers may be our children too: only the ones that appear during the test count."""
    before = children_of_this_process()
    yield
    assert children_of_this_process() - before == set()


def test_workers_write_the_archive_and_are_gone_afterwards(tmp_path, no_new_children):
    entries = small_files(tmp_path / "src", 300)
    with open(tmp_path / "out.zip", "w+b") as out:
        write_zip(out, entries, CompressionLevel.OPTIMAL, workers=3)
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.namelist() == [entry.name for entry in entries]
        assert archive.read("f299.txt") == b"octopus deploy " * 300


def test_the_first_failing_file_in_package_order_is_reported_not_the_first_in_time(tmp_path, monkeypatch,
                                                                                  no_new_children):
    entries = small_files(tmp_path / "src", 400)
    real = zip_writer._compress_small

    def failing(path, data, size, compress):
        if path.endswith("f010.txt"):
            raise PipeError("f010 is broken")
        if path.endswith("f300.txt"):
            raise PipeError("f300 is broken")  # later in the package, whenever it fails
        return real(path, data, size, compress)

    monkeypatch.setattr(zip_writer, "_compress_small", failing)
    with open(tmp_path / "out.zip", "w+b") as out, pytest.raises(PipeError, match="f010 is broken"):
        write_zip(out, entries, CompressionLevel.OPTIMAL, workers=2)


def test_a_worker_that_is_killed_is_named_with_its_signal(tmp_path, monkeypatch, no_new_children):
    entries = small_files(tmp_path / "src", 200)
    real = zip_writer._compress_small
    parent = os.getpid()

    def dies(path, data, size, compress):
        if path.endswith("f150.txt") and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        return real(path, data, size, compress)

    monkeypatch.setattr(zip_writer, "_compress_small", dies)
    with open(tmp_path / "out.zip", "w+b") as out, pytest.raises(PipeError) as failure:
        write_zip(out, entries, CompressionLevel.OPTIMAL, workers=2)
    assert "A packing worker process stopped unexpectedly (pid " in str(failure.value)
    assert "killed by SIGKILL); nothing was written." in str(failure.value)


def test_a_bug_in_a_worker_carries_the_workers_traceback(tmp_path, monkeypatch):
    entries = small_files(tmp_path / "src", 20)

    def buggy(path, data, size, compress):
        return {}[path]

    monkeypatch.setattr(zip_writer, "_compress_small", buggy)
    with open(tmp_path / "out.zip", "w+b") as out, pytest.raises(KeyError) as failure:
        write_zip(out, entries, CompressionLevel.OPTIMAL, workers=2)
    assert "Raised in a packing worker" in failure.value.__notes__[0]
    assert "in buggy" in failure.value.__notes__[0]


def test_an_os_error_in_a_worker_keeps_its_errno_and_file_name(tmp_path, monkeypatch):
    entries = small_files(tmp_path / "src", 100)

    def unreadable(path, data, size, compress):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(zip_writer, "_compress_small", unreadable)
    with open(tmp_path / "out.zip", "w+b") as out, pytest.raises(PermissionError) as failure:
        write_zip(out, entries, CompressionLevel.OPTIMAL, workers=2)
    assert (failure.value.errno, failure.value.filename) == (13, entries[0].path)


# Test-only wrapper: each file takes 0.2 s to deflate, so the run is surely packing when the signal comes.
SLOW_PIPE = """
import runpy, sys, time
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
from octopus_pack.pack import zip_writer
real = zip_writer._compress_small
def slow(path, data, size, compress):
    time.sleep(0.2)
    return real(path, data, size, compress)
zip_writer._compress_small = slow
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def start_slow_pack(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """The pipe on 60 files, 0.2 s each; its environment carries a marker that finds it and its workers."""
    small_files(tmp_path / "src", 60)
    name, value = "OCTOPUS_PACK_TEST_RUN", str(uuid.uuid4())
    env = {"PATH": os.environ["PATH"], "ID": "MyApp", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src",
           "OUTPUT_PATH": "out", name: value}
    process = subprocess.Popen([sys.executable, "-c", SLOW_PIPE, str(PIPE_ENTRY)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, f"{name}={value}"


def assert_none_left(marker: str) -> None:
    for _ in range(100):  # workers end once their pipes close
        if not processes_with(marker):
            break
        time.sleep(0.05)
    assert processes_with(marker) == []


def test_sigterm_while_workers_pack_leaves_no_process_and_no_file(tmp_path):
    process, marker = start_slow_pack(tmp_path)
    wait_until_writing(process, tmp_path / "out")
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 1, output
    assert "✖ Stopped by signal 15: no package was written." in output
    assert list((tmp_path / "out").iterdir()) == []
    assert_none_left(marker)


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "max 100000\n"}, None),  # cgroup v2, no limit
    ({"cpu.max": "50000 100000\n"}, 1),  # docker run --cpus 0.5
    ({"cpu.max": "100000 100000\n"}, 1),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # cgroup v1, no limit
    ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
    ({"cpu.max": "garbage\n"}, None),
    ({}, None),  # no cgroup files at all (not Linux, or not mounted)
])
def test_workers_follow_a_containers_cpu_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path) == (expected if expected is not None else affinity)


def test_when_no_worker_can_be_forked_the_package_is_made_here_and_is_the_same(tmp_path, monkeypatch, caplog):
    entries = small_files(tmp_path / "src", 50)
    expected = tmp_path / "expected.zip"
    with open(expected, "w+b") as out:
        write_zip(out, entries, CompressionLevel.OPTIMAL, fixed_time=1_700_000_000, workers=1)

    def no_more_processes():
        raise BlockingIOError(11, "Resource temporarily unavailable")  # fork at a pids limit

    monkeypatch.setattr(os, "fork", no_more_processes)
    with open(tmp_path / "fallback.zip", "w+b") as out:
        write_zip(out, entries, CompressionLevel.OPTIMAL, fixed_time=1_700_000_000, workers=2)
    assert (tmp_path / "fallback.zip").read_bytes() == expected.read_bytes()
    assert "Cannot start packing worker processes (Resource temporarily unavailable): packing in this process only." \
        in caplog.text


def test_a_run_killed_outright_while_packing_leaves_nothing_in_the_output_folder(tmp_path):
    """SIGKILL (the OOM killer, a step's container killed): no handler runs, yet no partial file is left."""
    (tmp_path / "out").mkdir()
    process, marker = start_slow_pack(tmp_path)
    wait_until_writing(process, tmp_path / "out")
    process.kill()
    process.communicate(timeout=60)
    assert_none_left(marker)
    assert os.listdir(tmp_path / "out") == []


def wait_until_writing(process: subprocess.Popen, folder: Path) -> None:
    """Until the pipe has its package file open (the workers started before it): it is surely packing then."""
    while not _has_a_file_open_in(process.pid, folder):
        assert process.poll() is None, "the pipe ended before it opened its package file"
        time.sleep(0.02)


def _has_a_file_open_in(pid: int, folder: Path) -> bool:
    """The package being written: a descriptor of the process that points into folder."""
    try:
        targets = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(target.startswith(f"{folder}/") for target in targets)

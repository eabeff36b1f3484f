"""OS faults while writing the package: one line each, nothing partial left, an earlier package untouched.

Real faults, not mocks: a small tmpfs fills up (ENOSPC), a read-only bind mount (EROFS), an immutable folder
(chattr +i: EPERM). Mounting needs root; without it those tests skip and say so.
"""

import contextlib
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures_pipe import PIPE_ENTRY, run_pipe_natively
from octopus_pack.pack.publish import temporary_name
from test_error_table import CLONE_IN_DOCS, table_rows

ENV = {"ID": "MyApp", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
       "COMPRESSION_LEVEL": "none"}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs or a read-only bind mount needs root")


def documented_line(fault: str, clone: Path) -> str:
    """docs/errors.md's text for this fault, with the test's checkout in place of Bitbucket's clone folder."""
    return "✖ " + table_rows("| Fault | The line says |")[fault].replace(CLONE_IN_DOCS, str(clone))


def failure_line(output: str) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines() if "✖" in line]
    assert len(lines) == 1, output
    assert "Unexpected error" not in output and "Traceback" not in output, output
    return lines[0]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("console.log(1)")
    (tmp_path / "out").mkdir()
    return tmp_path


def assert_refused_keeping(earlier: bytes, clone: Path, fault: str) -> None:
    """A run that would replace the earlier package fails with the documented line and leaves that package alone."""
    run = run_pipe_natively({**ENV, "OVERWRITE": "true"}, clone)
    assert run.returncode == 1
    assert failure_line(run.output) == documented_line(fault, clone)
    assert sorted(os.listdir(clone / "out")) == ["MyApp.1.0.0.zip"]
    assert (clone / "out" / "MyApp.1.0.0.zip").read_bytes() == earlier


def _earlier_package(clone: Path) -> bytes:
    """Pack once, so the fault hits a run that would replace an existing package."""
    run = run_pipe_natively(ENV, clone)
    assert run.returncode == 0, run.output
    return (clone / "out" / "MyApp.1.0.0.zip").read_bytes()


@contextlib.contextmanager
def _mounted(*commands: list[str], target: Path) -> Iterator[None]:
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            subprocess.run(["umount", str(target)], capture_output=True)
            pytest.skip(f"cannot {' '.join(command)}: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


@needs_root
def test_a_full_disk_is_one_line_and_keeps_the_earlier_package(clone):
    out = clone / "out"
    with _mounted(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(out)], target=out):
        earlier = _earlier_package(clone)
        (clone / "src" / "big.bin").write_bytes(os.urandom(1 << 20))
        assert_refused_keeping(earlier, clone, "The disk is full")


@needs_root
def test_a_read_only_output_folder_is_one_line_and_keeps_the_earlier_package(clone):
    out = clone / "out"
    earlier = _earlier_package(clone)
    with _mounted(["mount", "--bind", str(out), str(out)], ["mount", "-o", "remount,ro,bind", str(out)], target=out):
        assert_refused_keeping(earlier, clone, "A read-only file system")


@needs_root
def test_an_immutable_output_folder_is_one_line(clone):
    out = clone / "out"
    earlier = _earlier_package(clone)
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode:
        pytest.skip("this file system does not support chattr +i")
    try:
        assert_refused_keeping(earlier, clone, "Not permitted (permissions, `chattr +i`)")
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)


def test_a_name_the_file_system_accepts_is_never_refused_for_the_temporary_name(clone):
    package_id = "A" * 240  # MyApp's 240-character cousin: a 250-byte file name, legal on Linux
    run = run_pipe_natively({**ENV, "ID": package_id}, clone)
    assert run.returncode == 0, run.output
    assert os.listdir(clone / "out") == [f"{package_id}.1.0.0.zip"]


def test_a_final_name_that_is_too_long_is_one_line_before_packing(clone):
    run = run_pipe_natively({**ENV, "ID": "A" * 251}, clone)
    assert run.returncode == 1
    line = failure_line(run.output)
    assert "is 261 bytes long, but the file system of OUTPUT_PATH" in line and "shorten ID or VERSION" in line
    assert "Packing" not in run.output  # refused before any work
    assert os.listdir(clone / "out") == []


@pytest.mark.parametrize("final_length", range(7, 256))
def test_the_temporary_name_is_never_longer_than_the_final_one(final_length):
    final = "x" * (final_length - 4) + ".zip"
    temporary = temporary_name(final)
    assert temporary.startswith(".~") and len(temporary) <= len(final)


def _start_pack(clone: Path) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **ENV, "COMPRESSION_LEVEL": "fast"}
    return subprocess.Popen([sys.executable, str(PIPE_ENTRY)], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_concurrent_packs_of_one_name_never_clobber_each_other(clone):
    """With OVERWRITE off, one wins, the other says 'already exists', and the file is the winner's."""
    for index in range(8):
        (clone / "src" / f"data{index}.bin").write_bytes(os.urandom(2 << 20))
    for attempt in range(3):
        first, second = _start_pack(clone), _start_pack(clone)
        outputs = [process.communicate(timeout=120)[0] for process in (first, second)]
        codes = sorted(process.returncode for process in (first, second))
        assert codes == [0, 1], outputs
        winner, loser = (outputs if first.returncode == 0 else outputs[::-1])
        assert "MyApp.1.0.0.zip already exists: set OVERWRITE: 'true' to replace it, or change VERSION." in \
            failure_line(loser)
        package = clone / "out" / "MyApp.1.0.0.zip"
        reported = re.search(r"SHA-256: ([0-9a-f]{64})", winner).group(1)
        assert hashlib.sha256(package.read_bytes()).hexdigest() == reported
        assert os.listdir(clone / "out") == ["MyApp.1.0.0.zip"]
        package.unlink()
        del attempt

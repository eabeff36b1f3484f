"""A cancelled step (SIGTERM) says truthfully what is on disk: before the package exists, and while pushing it."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures_pipe import PIPE_ENTRY


def start(clone: Path, octopus) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "ID": "MyApp", "FORMAT": "zip",
           "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out", "OCTOPUS_SERVER": octopus.url,
           "OCTOPUS_APIKEY": octopus.api_key, "PUSH_BUILD_INFORMATION": "false", "DELTA_COMPRESSION": "false"}
    return subprocess.Popen([sys.executable, str(PIPE_ENTRY)], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_request(octopus, kind: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if octopus.requests_of(kind) or process.poll() is not None:
            return
        time.sleep(0.05)


def closing_line(output: str) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines() if "✖" in line]
    assert len(lines) == 1, output
    return lines[0]


def stopped_during(kind: str, tmp_path: Path, octopus) -> str:
    """Run the pipe, hold the server's answer to the first `kind` request, send SIGTERM then; the closing line."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("x")
    octopus.set_delay(kind, 30)
    process = start(tmp_path, octopus)
    wait_for_request(octopus, kind, process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 1, output
    return closing_line(output)


def test_stopped_before_packing_says_no_package_was_written(tmp_path, octopus):
    assert stopped_during("root", tmp_path, octopus) == "✖ Stopped by signal 15: no package was written."
    assert not (tmp_path / "out").exists()


def test_stopped_while_pushing_says_the_package_is_complete(tmp_path, octopus):
    package = tmp_path / "out" / "MyApp.1.0.0.zip"
    assert stopped_during("upload", tmp_path, octopus) == (
        f"✖ Stopped by signal 15 while pushing to {octopus.url}: the package {package} is complete on disk, but "
        "Octopus may not have it or its build information; run the step again to push.")
    assert package.is_file()

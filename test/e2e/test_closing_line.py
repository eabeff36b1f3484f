"""The closing ✖ line prints the message as written: file names, IDs and URLs keep their case.

And a Python without the pipe's requirements gets one such line saying how to run the pipe, not a traceback.
"""

import subprocess
import sys
import zipfile

from fixtures_pipe import PIPE_ENTRY, REPO_ROOT, run_pipe_natively


def failure_lines(stdout: str) -> list[str]:
    return [line.removeprefix("\x1b[31m").removesuffix("\x1b[0m") for line in stdout.splitlines() if "✖" in line]


def test_a_package_name_that_starts_lowercase_is_printed_as_it_is(tmp_path, octopus):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.html").write_text("<html/>")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("index.html", "<html>older</html>")
    octopus.add_package("webshop.1.0.0.zip", other)
    env = {"ID": "webshop", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
           "OCTOPUS_SERVER": octopus.url, "OCTOPUS_APIKEY": octopus.api_key, "PUSH_BUILD_INFORMATION": "false"}
    run = run_pipe_natively(env, tmp_path)
    assert run.returncode == 1, run.output
    (line,) = failure_lines(run.stdout)
    assert line.startswith("✖ webshop.1.0.0.zip is already in Octopus "), line


def test_a_message_that_starts_with_a_url_keeps_it_as_given():
    """No route of the fake server ends in such a message yet, so the closing line's function is called directly."""
    script = ("import runpy, sys; pipe = runpy.run_path(sys.argv[1]); "
              "pipe['_fail']('http://Octopus.example:8065/octopus rejected the access token: check it.')")
    done = subprocess.run([sys.executable, "-c", script, str(PIPE_ENTRY)], cwd=REPO_ROOT / "pipe",
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert failure_lines(done.stdout) == ["✖ http://Octopus.example:8065/octopus rejected the access token: check it."]
    assert done.stderr == ""


def test_a_python_without_the_requirements_says_how_to_run_the_pipe(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    (tmp_path / "src").mkdir()
    env = {"ID": "Web", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(python), str(PIPE_ENTRY)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == ""  # no traceback
    assert done.stdout.splitlines() == [
        f"✖ This Python ({python}) lacks the pipe's requirements (no module named 'bitbucket_pipes_toolkit'): run "
        "'python3 dev.py sample' once, then '.venv/bin/python pipe/pipe.py' with the same variables; or run the "
        "Docker image."]
    assert not (tmp_path / "out").exists()


def test_the_commands_in_the_readme_and_contributing_run_the_pipe_from_the_venv():
    for name in ("README.md", "CONTRIBUTING.md"):
        text = (REPO_ROOT / name).read_text()
        assert "python3 pipe/pipe.py" not in text, f"{name}: a plain python3 lacks the requirements"

#!/usr/bin/env python3
"""The project's everyday commands, for a fresh machine with nothing but python3 and python3-venv.

    python3 dev.py sample           pack the bundled sample/ folder into out/Sample.Web.1.0.0.zip
    python3 dev.py test [ARGS...]   run every test, in two workers (ARGS go to pytest; -n 0: one process)
    python3 dev.py lint             ruff, mypy and hadolint
    python3 dev.py bench [ARGS...]  the packer benchmark (ARGS go to test/bench/benchmark.py), then the image benchmark

Standard library only. Everything is installed into the project's own virtual environment, .venv, created with
`python3 -m venv` and refreshed only when a requirements file changed; nothing is ever installed into the
host's Python. Make, pip and git are not needed.
"""

from __future__ import annotations  # so Pythons older than 3.11 still reach the version check

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
RUNTIME_REQUIREMENTS = ROOT / "requirements.txt"
TEST_REQUIREMENTS = ROOT / "test" / "requirements.txt"
SAMPLE = {"ID": "Sample.Web", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "sample", "OUTPUT_PATH": "out",
          "OVERWRITE": "true"}


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def stop(message: str) -> None:
    """One line that says what is wrong and what to do, then exit 1."""
    print(f"✖ {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def requirement_files(path: Path) -> list[Path]:
    """The file and every file it pulls in with -r, so a change in either refreshes the environment."""
    files = [path]
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("-r", "--requirement"):
            files += requirement_files((path.parent / parts[1]).resolve())
    return files


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for file in requirement_files(path):
        digest.update(file.read_bytes())
    return digest.hexdigest()


def venv_runs_here() -> bool:
    """.venv's python runs, and is this python3's version: a .venv copied or mounted from another machine may not."""
    if not VENV_PYTHON.exists():
        return False
    probe = subprocess.run([str(VENV_PYTHON), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                           text=True)
    return probe.returncode == 0 and probe.stdout.strip() == str(sys.version_info[:2])


def create_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must say this on any python3
        stop(f"Python {sys.version.split()[0]} is too old: the pipe needs Python 3.11 or later.")
    try:
        import ensurepip  # noqa: F401 - only probing: Debian ships it in python3-venv
        import venv  # noqa: F401
    except ImportError:
        stop("python3 cannot create virtual environments here: run `apt-get install python3-venv` (as root), "
             "then run this command again.")
    again = VENV.is_dir()
    if again:
        say(f"{VENV.relative_to(ROOT)}/ was made by another python3 (or on another machine): making it again")
    say(f"creating the project's virtual environment in {VENV.relative_to(ROOT)}/")
    done = subprocess.run([sys.executable, "-m", "venv", *(["--clear"] if again else []), str(VENV)],
                          capture_output=True, text=True)
    if done.returncode or not VENV_PYTHON.exists():
        shutil.rmtree(VENV, ignore_errors=True)
        detail = (done.stderr or done.stdout).strip().splitlines()
        if any("ensurepip" in line for line in detail):
            stop("python3 cannot create virtual environments here: run `apt-get install python3-venv` (as root), "
                 "then run this command again.")
        stop(f"`python3 -m venv .venv` failed: {detail[-1] if detail else 'no output'}")


def ensure_requirements(requirements: Path) -> None:
    """Create .venv if needed and install `requirements` into it, unless they are installed already."""
    if not venv_runs_here():
        create_venv()
    stamp = VENV / f".installed-{requirements.relative_to(ROOT).as_posix().replace('/', '-')}.sha256"
    wanted = fingerprint(requirements)
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    say(f"installing {requirements.relative_to(ROOT)} into .venv (only when it changes)")
    command = [str(VENV_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(requirements)]
    if not os.access(Path.home(), os.W_OK):
        command.append("--no-cache-dir")  # a user without a writable home (e.g. docker run --user)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        last = (done.stderr or done.stdout).strip().splitlines()
        stop(f"pip could not install {requirements.relative_to(ROOT)} into .venv: {last[-1] if last else 'see above'}")
    stamp.write_text(wanted)


def venv_environment(**extra: str) -> dict[str, str]:
    """The environment with .venv/bin first on PATH, so tools the tests call (ruff, semversioner...) are ours."""
    env = {**os.environ, **extra}
    env["PATH"] = os.pathsep.join([str(VENV / "bin"), env.get("PATH", os.defpath)])
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def run(command: list[str], env: dict[str, str] | None = None) -> int:
    return subprocess.run(command, cwd=ROOT, env=env or venv_environment()).returncode


def docker_base_image() -> str | None:
    """ci-scripts/docker-engine.sh: an engine and a base image for the container tests, or None without one."""
    if not shutil.which("bash"):
        return None
    done = subprocess.run(["bash", str(ROOT / "ci-scripts" / "docker-engine.sh")], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def sample(_: list[str]) -> int:
    ensure_requirements(RUNTIME_REQUIREMENTS)
    return run([str(VENV_PYTHON), "pipe/pipe.py"], env=venv_environment(**SAMPLE))


def test(args: list[str]) -> int:
    ensure_requirements(TEST_REQUIREMENTS)
    base = docker_base_image()
    env = venv_environment()
    if base:
        env["OCTOPUS_PACK_BASE_IMAGE"] = base
    elif env.get("CI", "").lower() == "true":
        stop("no Docker engine for the container tests, and CI=true requires them: see the first "
             "'docker-engine:' line above for the cause.")
    else:
        say("no Docker engine: the container tests will be skipped (see the 'docker-engine:' lines above)")
        env["OCTOPUS_PACK_NO_ENGINE"] = "ci-scripts/docker-engine.sh found no working engine and base image"
    return run([str(VENV_PYTHON), "-m", "pytest", *parallel(args), *args], env=env)


def parallel(args: list[str]) -> list[str]:
    """Two pytest workers (pytest-xdist) unless ARGS choose: the suite mostly waits on child processes and sockets,
    so two workers halve its time on two cores. The container tests keep to one worker (test/conftest.py), so the
    image is built once. `-n 0` runs everything in one process (for --pdb)."""
    chooses = any(arg in ("-n", "--numprocesses", "--dist") or arg.startswith(("-n", "--numprocesses=", "--dist="))
                  for arg in args)
    return [] if chooses or "no:xdist" in args else ["-n", "2", "--dist", "loadgroup"]


def lint(_: list[str]) -> int:
    ensure_requirements(TEST_REQUIREMENTS)
    return (run([str(VENV_PYTHON), "-m", "ruff", "check", "."]) or run([str(VENV_PYTHON), "-m", "mypy"])
            or run([str(VENV / "bin" / "hadolint"), "Dockerfile"]))


def bench(args: list[str]) -> int:
    ensure_requirements(TEST_REQUIREMENTS)
    status = run([str(VENV_PYTHON), "test/bench/benchmark.py", *args])
    base = docker_base_image()
    if status or not base:
        return status or 1
    return run([str(VENV_PYTHON), "test/bench/bench_image.py"], env=venv_environment(OCTOPUS_PACK_BASE_IMAGE=base))


COMMANDS = {"sample": sample, "test": test, "lint": lint, "bench": bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

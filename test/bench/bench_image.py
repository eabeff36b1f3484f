"""Benchmark the pipe's image: its size (base vs our layers) and the wall time of `docker run` on the sample."""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # test/: the container fixtures

from fixtures_container import IMAGE_TAG, REPO_ROOT, WORK_ROOT, base_image_for

MB = 1_000_000  # docker reports sizes in decimal megabytes
SAMPLE_ENV = {"ID": "Sample.Web", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "sample", "OUTPUT_PATH": "out"}


def build(client: docker.DockerClient, base: str) -> None:
    started = time.perf_counter()
    client.images.build(path=str(REPO_ROOT), tag=IMAGE_TAG, buildargs={"BASE_IMAGE": base}, network_mode="host",
                         rm=True, forcerm=True)
    print(f"build (FROM {base}, layer cache allowed): {time.perf_counter() - started:.1f} s")


def report_size(client: docker.DockerClient, base: str) -> None:
    image = client.images.get(IMAGE_TAG)
    base_size = client.images.get(base).attrs["Size"]
    total = image.attrs["Size"]
    print(f"image size: {total / MB:.1f} MB = base {base_size / MB:.1f} MB + ours {(total - base_size) / MB:.1f} MB")
    base_layers = {layer["Id"] for layer in client.images.get(base).history() if layer["Id"] != "<missing>"}
    for layer in image.history():
        if layer["Id"] in base_layers:
            break
        if layer["Size"]:
            step = " ".join(layer["CreatedBy"].replace("/bin/sh -c #(nop) ", "").split())
            print(f"  {layer['Size'] / MB:7.2f} MB  {step[:100]}")


def docker_run(workdir: Path, env: dict[str, str], entrypoint: list[str] | None = None) -> float:
    """One `docker run --rm` exactly as users type it; returns its wall time in seconds."""
    command = ["docker", "run", "--rm", "--network", "host", "-v", f"{workdir}:{workdir}", "-w", str(workdir)]
    for name, value in env.items():
        command += ["-e", f"{name}={value}"]
    if entrypoint:
        command += ["--entrypoint", entrypoint[0], IMAGE_TAG, *entrypoint[1:]]
    else:
        command.append(IMAGE_TAG)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"docker run failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def report_run_time(runs: int) -> None:
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=WORK_ROOT))
    try:
        shutil.copytree(REPO_ROOT / "sample", workdir / "sample")
        packs, starts = [], []
        for _ in range(runs):
            shutil.rmtree(workdir / "out", ignore_errors=True)
            packs.append(docker_run(workdir, SAMPLE_ENV))
            starts.append(docker_run(workdir, {}, ["/opt/venv/bin/python3", "-c", "pass"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"docker run packing sample/ (median of {runs}): {statistics.median(packs):.2f} s "
          f"(min {min(packs):.2f}, max {max(packs):.2f})")
    print(f"  of which an empty container with its interpreter takes {statistics.median(starts):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="docker runs to take the median of")
    args = parser.parse_args()
    client = docker.from_env()
    base = base_image_for(client)
    build(client, base)
    report_size(client, base)
    report_run_time(args.runs)


if __name__ == "__main__":
    main()

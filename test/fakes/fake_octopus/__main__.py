"""Run the fake Octopus server by hand: `cd test/fakes && python3 -m fake_octopus --port 8065` (Ctrl+C stops it)."""

import argparse
import signal
import sys
import threading
from pathlib import Path

if __package__ in (None, ""):  # run as `python3 test/fakes/fake_octopus`: make the package importable by name
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_octopus import FakeOctopus


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m fake_octopus", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--prefix", default="", help="serve under a path, e.g. /octopus")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `kill` still runs stop() and wipes the storage
    fake = FakeOctopus(path_prefix=options.prefix, port=options.port).start()
    print(f"Fake Octopus listening on {fake.url}", flush=True)
    print(f"API key: {fake.api_key}   (Bearer token: {fake.access_token})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

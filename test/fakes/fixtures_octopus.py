"""Fixtures that give a test a running fake Octopus server (test/fake_octopus) on 127.0.0.1."""

from collections.abc import Callable, Iterator

import pytest

from fake_octopus import FakeOctopus


@pytest.fixture
def octopus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeOctopus]:
    """A started FakeOctopus on a free port with the default key `octopus.api_key`; stopped and wiped afterwards."""
    with FakeOctopus(storage_root=tmp_path_factory.getbasetemp()) as fake:
        yield fake


@pytest.fixture
def make_octopus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., FakeOctopus]]:
    """Call as make_octopus(path_prefix="/octopus") for a server with options; all are stopped afterwards."""
    started: list[FakeOctopus] = []

    def make(**options) -> FakeOctopus:
        fake = FakeOctopus(storage_root=tmp_path_factory.getbasetemp(), **options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()

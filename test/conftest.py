"""Shared pytest setup: each area keeps its fixtures in its own plugin module, listed here."""

import pytest

pytest_plugins = [
    "fixtures_pipe",
    "fixtures_octopus",
    "fixtures_network",
    "fixtures_container",
    "fixtures_shared",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist's --dist loadgroup (dev.py test), the container tests share one worker, so only that
    worker builds the image; the rest spread over the workers test by test."""
    for item in items:
        if item.get_closest_marker("container"):
            item.add_marker(pytest.mark.xdist_group("container"))

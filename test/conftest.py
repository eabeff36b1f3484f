"""Shared pytest setup: each area keeps its fixtures in its own plugin module, listed here."""

pytest_plugins = [
    "fixtures_pipe",
    "fixtures_octopus",
    "fixtures_network",
    "fixtures_container",
    "fixtures_shared",
]

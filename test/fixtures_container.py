"""Fixtures for fixtures_container tests (filled in by its owner)."""

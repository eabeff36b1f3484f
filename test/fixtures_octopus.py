"""Fixtures for fixtures_octopus tests (filled in by its owner)."""

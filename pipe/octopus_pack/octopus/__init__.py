"""Push packages and build information to an Octopus Deploy server over its REST API (no octo CLI needed).

Only the settings load eagerly: the HTTP, git and delta machinery is imported when something is pushed.
"""

from typing import Any

from octopus_pack.config.octopus import OCTOPUS_VARIABLES, OctopusSettings, OverwriteMode, octopus_settings_from

__all__ = ["OCTOPUS_VARIABLES", "OctopusSettings", "OverwriteMode", "octopus_settings_from", "push_to_octopus"]


def __getattr__(name: str) -> Any:
    if name == "push_to_octopus":
        from octopus_pack.octopus.push import push_to_octopus

        return push_to_octopus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

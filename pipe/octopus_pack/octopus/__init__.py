"""Push packages and build information to an Octopus Deploy server over its REST API (no octo CLI needed).

Only the settings types load eagerly: the HTTP, git and delta machinery is imported when something is pushed.
"""

from typing import Any

from octopus_pack.octopus.settings import BuildContext, OctopusSettings, OverwriteMode

__all__ = ["BuildContext", "OctopusSettings", "OverwriteMode", "push_to_octopus"]


def __getattr__(name: str) -> Any:
    if name == "push_to_octopus":
        from octopus_pack.octopus.push import push_to_octopus

        return push_to_octopus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

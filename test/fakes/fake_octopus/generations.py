"""Profiles that make the fake behave like one Octopus Server release: its links, routes, parameters and answers.

    with FakeOctopus() as octopus:
        use_generation(octopus, "2018.10")

Sources: the canned root documents in OctopusDeploy/OctopusClients (source/Octopus.Client.Tests/CannedResponses/
2019.7.12/api.GET.json: PackageUpload `{?overwriteMode}`, PackageMetadata rather than BuildInformation) and
go-octopusdeploy (pkg/constants/constants_api_replies.go, 2020.4: `{?replace,overwriteMode}` and
BuildInformation), and Octopus.Client's version gates: spaces 2019.1, package metadata 2019.4.1, IgnoreIfExists
and overwriteMode 2019.7.9 (Model/OverwriteMode.cs), build information 2019.9.0 (Model/BuildInformation/
OctopusBuildInformation.cs), OIDC and access tokens 2023.4/2024.1 (docs, research §10.1).

What no source says, the fake chooses so that both answers are exercised: the older releases store and answer
NuGet-normalised versions (a pushed 1.0 comes back as 1.0.0), and 2026.1 reports Hash only in upload answers,
as today's API reference lists it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .server import FakeOctopus
from .state import Behaviour


@dataclass(frozen=True)
class Generation:
    """One Octopus release as the push sees it."""

    name: str
    lacks: str  # for tables: what this release does not have, compared with today's
    behaviour: dict[str, object]


GENERATIONS: dict[str, Generation] = {
    g.name: g
    for g in (
        Generation("2018.10", "spaces, build information, overwriteMode (replace only), access tokens", {
            "server_version": "2018.10.3", "spaces_enabled": False, "build_information_enabled": False,
            "honours_overwrite_mode": False, "upload_query": "replace", "access_tokens": False,
            "normalised_versions": True,
        }),
        Generation("2019.4", "build information (has PackageMetadata), overwriteMode (replace only), access tokens", {
            "server_version": "2019.4.5", "build_information_enabled": False, "package_metadata_link": True,
            "honours_overwrite_mode": False, "upload_query": "replace", "access_tokens": False,
            "normalised_versions": True,
        }),
        Generation("2019.9", "the replace parameter in its templates, access tokens", {
            "server_version": "2019.9.0", "upload_query": "overwriteMode", "access_tokens": False,
            "normalised_versions": True,
        }),
        Generation("2020.4", "access tokens and OIDC", {
            "server_version": "2020.4.0", "access_tokens": False,
        }),
        Generation("2024.1", "nothing the push uses", {
            "server_version": "2024.1.1889",
        }),
        Generation("2026.1", "Hash on a single-package GET (only upload answers carry it)", {
            "server_version": "2026.1.100", "package_hash": "upload",
        }),
    )
}


def use_generation(octopus: FakeOctopus, name: str) -> Generation:
    """Switch a running fake to release `name`: every Behaviour field is reset first, so profiles never mix."""
    generation = GENERATIONS[name]
    defaults = Behaviour()
    behaviour = octopus.behaviour
    for field in fields(Behaviour):
        setattr(behaviour, field.name, getattr(defaults, field.name))
    for key, value in generation.behaviour.items():
        if not hasattr(behaviour, key):
            raise AttributeError(f"Behaviour has no {key}")
        setattr(behaviour, key, value)
    return generation

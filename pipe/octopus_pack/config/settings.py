"""One read of the environment, one validated Settings object: everything below takes plain values.

The toolkit still runs its schema (for its Pipe class, logging and success/fail), but every variable is declared
as a plain string, which always validates: its multi-line dump can never appear, and its list handling never runs
int() on NAME_COUNT before our checks. All parsing and checking happens here, in config/.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from octopus_pack.config import notices, values, variables
from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.config.booleans import parse_boolean
from octopus_pack.config.notices import Notice
from octopus_pack.config.octopus import ALIASES, octopus_settings_from
from octopus_pack.config.pack import pack_settings_from
from octopus_pack.config.packages import listed_packages, package_patterns, push_only
from octopus_pack.config.typos import likely_typos
from octopus_pack.config.variables import LIST_VARIABLES, VARIABLES
from octopus_pack.errors import PipeError
from octopus_pack.octopus.settings import BuildContext, OctopusSettings
from octopus_pack.pack.packager import PackRequest
from octopus_pack.package_result import PackageResult

TOOLKIT_SCHEMA = {name: {"type": "string", "required": False} for name in VARIABLES}


@dataclass(frozen=True)
class Results:
    """Where the package's facts go, and how the closing line names the package's folder."""

    shared_storage_dir: Path | None  # BITBUCKET_PIPE_SHARED_STORAGE_DIR: package.env for later script lines
    shown_output_path: str  # OUTPUT_PATH as written in the pipeline ("" when nothing is packed)


@dataclass(frozen=True)
class Logging:
    debug: bool  # DEBUG: our own detail
    level: int | None  # EXTRA_ARGS --logLevel; None keeps the default


@dataclass(frozen=True)
class Settings:
    """Everything one run needs, checked before any work starts."""

    pack: PackRequest | None  # None: PACKAGES without the packing variables, so only push
    octopus: OctopusSettings | None  # None: only pack
    build: BuildContext
    results: Results
    logging: Logging
    packages: tuple[PackageResult, ...] = ()  # PACKAGES: files built elsewhere, pushed after the packed package
    notices: tuple[Notice, ...] = ()  # warnings found on the way, for the runner to log once logging is set up


def read_environment() -> dict[str, str]:
    """The only read of os.environ in the pipe: a copy, so nothing later sees it change."""
    return dict(os.environ)


def debug_requested(env: Mapping[str, str]) -> bool:
    """DEBUG read leniently, before validation, so even a failing run knows whether to show a traceback."""
    return parse_boolean(env.get("DEBUG", "")[:16]) is True


def typo_notices(env: Mapping[str, str]) -> list[Notice]:
    """A warning for each variable name that is probably one of ours mistyped (config.typos says what is close)."""
    return [notices.warning(f"{name} is not a variable of this pipe: did you mean {meant}?")
            for name, meant in likely_typos(env, (*VARIABLES, *ALIASES.values()), LIST_VARIABLES)]


def settings_from(env: Mapping[str, str], cwd: Path) -> Settings:
    """Check every variable (the required ones first) and build the Settings; PipeError names the first problem."""
    debug = variables.boolean(env, "DEBUG")
    patterns = package_patterns(env)
    found = typo_notices(env)
    pack = None if push_only(env, patterns) else pack_settings_from(env, cwd, found)
    octopus = octopus_settings_from(env, found)
    if patterns and octopus is None:
        raise PipeError(_nowhere_to_push(env))
    packages = listed_packages(patterns, cwd, (pack.request.package_id, pack.request.version) if pack else None)
    storage = env.get("BITBUCKET_PIPE_SHARED_STORAGE_DIR", "").strip()
    return Settings(
        pack=pack.request if pack else None,
        octopus=octopus,
        build=bitbucket_build_from(env, working_dir=cwd),
        results=Results(Path(storage) if storage else None, pack.shown_output_path if pack else ""),
        logging=Logging(debug, logging.DEBUG if debug else pack.log_level if pack else None),
        packages=packages,
        notices=tuple(found),
    )


def _nowhere_to_push(env: Mapping[str, str]) -> str:
    """PACKAGES only pushes: without a server (or with both pushes turned off) it could do nothing."""
    if any(values.given(env, name, 1 << 16) for name in ("OCTOPUS_SERVER", "OCTOPUS_URL")):
        return ("PACKAGES lists files to push, but PUSH_PACKAGE and PUSH_BUILD_INFORMATION are both false: set "
                "PUSH_PACKAGE: 'true', or remove PACKAGES.")
    return ("PACKAGES lists files to push, but OCTOPUS_SERVER is not set: add OCTOPUS_SERVER and a credential such "
            "as OCTOPUS_APIKEY, or remove PACKAGES.")

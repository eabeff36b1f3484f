"""Parse octo-style pack options (EXTRA_ARGS) the way `octo pack` did, but refuse what octo silently ignored."""

import re
from dataclasses import dataclass, field

from octopus_pack.config.booleans import parse_boolean
from octopus_pack.errors import PipeError


@dataclass(frozen=True)
class _Option:
    name: str  # as octo spelled it, for messages
    field: str  # the OctoOptions attribute it sets
    takes_value: bool
    repeatable: bool = False


_SUPPORTED = {
    option.name.lower(): option
    for option in (
        _Option("author", "authors", takes_value=True, repeatable=True),
        _Option("title", "title", takes_value=True),
        _Option("description", "description", takes_value=True),
        _Option("releaseNotes", "release_notes", takes_value=True),
        _Option("releaseNotesFile", "release_notes_file", takes_value=True),
        _Option("include", "includes", takes_value=True, repeatable=True),
        _Option("exclude", "excludes", takes_value=True, repeatable=True),
        _Option("overwrite", "overwrite", takes_value=False),
        _Option("compressionLevel", "compression_level", takes_value=True),
        _Option("verbose", "verbose", takes_value=False),
        _Option("logLevel", "log_level", takes_value=True),
    )
}
_SET_BY_VARIABLE = {"id": "ID", "version": "VERSION", "format": "FORMAT", "basepath": "SOURCE_PATH",
                    "outfolder": "OUTPUT_PATH"}
_OPTION_SYNTAX = re.compile(r"^--?(?P<name>[^:=]+)(?:[:=](?P<value>.*))?$", re.DOTALL)


@dataclass
class OctoOptions:
    """The pack options found in EXTRA_ARGS: None (or empty) where an option was not given."""

    authors: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    release_notes: str | None = None
    release_notes_file: str | None = None
    overwrite: bool | None = None
    compression_level: str | None = None
    verbose: bool = False
    log_level: str | None = None


def supported_options() -> str:
    """The option list shown when EXTRA_ARGS holds something we do not understand."""
    return ", ".join(f"--{option.name}" for option in _SUPPORTED.values())


def parse_octo_options(args: list[str]) -> OctoOptions:
    """Read `--name value`, `--name=value` and `--name:value` (names case-insensitive) into OctoOptions."""
    options = OctoOptions()
    seen: set[str] = set()
    tokens = iter(args)
    for token in tokens:
        match = _OPTION_SYNTAX.match(token)
        if not match:
            raise PipeError(
                f"EXTRA_ARGS has a value '{token}' that belongs to no option: put it right after its option, "
                f"or write it as --option=value. Supported options: {supported_options()}."
            )
        key = match["name"].lower()
        option = _SUPPORTED.get(key)
        if option is None:
            if key in _SET_BY_VARIABLE:
                raise PipeError(f"EXTRA_ARGS sets '{token}', which this pipe sets from the {_SET_BY_VARIABLE[key]} "
                                f"variable: set {_SET_BY_VARIABLE[key]} instead.")
            raise PipeError(f"EXTRA_ARGS has an unknown option '{token}'. Supported options: {supported_options()}.")
        if key in seen and not option.repeatable:
            raise PipeError(f"EXTRA_ARGS gives --{option.name} more than once: keep one.")
        seen.add(key)
        value = match["value"]
        if option.takes_value and value is None:
            value = next(tokens, None)
            if value is None:
                raise PipeError(f"EXTRA_ARGS ends with --{option.name} but no value: add the value after it.")
        _apply(options, option, value)
    return options


def _apply(options: OctoOptions, option: _Option, value: str | None) -> None:
    if not option.takes_value:
        setattr(options, option.field, _flag_value(option, value))
    elif option.repeatable:
        getattr(options, option.field).append(value)
    else:
        setattr(options, option.field, value)


def _flag_value(option: _Option, value: str | None) -> bool:
    """A bare flag means true; unlike octo, `--flag=false` means false."""
    if value is None:
        return True
    flag = parse_boolean(value)
    if flag is not None:
        return flag
    raise PipeError(f"EXTRA_ARGS gives --{option.name}={value}: use --{option.name}, --{option.name}=true "
                    f"or --{option.name}=false.")

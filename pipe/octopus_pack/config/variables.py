"""Every variable of the pipe on one screen: its name, how its text is read, its bound and its default.

The one place a bound, a default or a message's example is written: config/pack.py and config/octopus.py read
each variable through this table; the toolkit's schema, the typo check and the README's variables tables (checked
by test_typos) list the same names in the same order.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from octopus_pack.config import values
from octopus_pack.octopus.settings import DEFAULT_COMMIT_LIMIT, DEFAULT_TIMEOUT_SECONDS


class Reader(StrEnum):
    """How a variable's text becomes a value (config/values.py holds the readers)."""

    REQUIRED = "text, required"
    TEXT = "text"  # unset or blank: the default
    GIVEN = "text; an unexpanded $NAME counts as unset"  # the Octopus variables pipe.yml forwards as $NAME
    CHOICE = "one of a few words"
    BOOLEAN = "true/false, yes/no, on/off, 1/0"
    WHOLE_NUMBER = "whole number"
    SECONDS = "seconds"
    LIST = "YAML list (NAME_COUNT, NAME_0, ...) or one string"


@dataclass(frozen=True)
class Variable:
    name: str
    reader: Reader
    bound: int | tuple[int, int] | None = None  # characters (each list item: values.MAX_ITEM_LENGTH), or low-high
    default: object = None  # what unset or blank means; None: nothing
    example: str | None = None  # shown by messages that ask for a value


EPOCH_RANGE = (315532800, 4354819199)  # 1980-01-01 to 2107-12-31 23:59:59: the times a zip entry can hold
DEFAULT_DESCRIPTION = "A deployment package created from files on disk."

R = Reader
TABLE = {variable.name: variable for variable in (
    Variable("ID", R.REQUIRED, 255, example="MyCompany.MyApp"),  # a file name's limit (a nupkg's: NuGet's 100)
    Variable("FORMAT", R.REQUIRED, 16, example="zip"),  # then one of zip, nupkg, nuget (config/pack.py)
    Variable("VERSION", R.REQUIRED, 255, example="1.0.0"),
    Variable("SOURCE_PATH", R.REQUIRED, 4096, example="."),  # Linux's PATH_MAX
    Variable("OUTPUT_PATH", R.REQUIRED, 4096, example="./out"),
    Variable("INCLUDE", R.LIST, default=("**",)),
    Variable("EXCLUDE", R.LIST, default=()),
    Variable("OVERWRITE", R.BOOLEAN, default=False),
    Variable("COMPRESSION_LEVEL", R.CHOICE, 16, default="optimal"),
    Variable("AUTHORS", R.LIST, default="USERNAME@USERDOMAIN"),
    Variable("TITLE", R.TEXT, 256),
    Variable("DESCRIPTION", R.TEXT, 4000, default=DEFAULT_DESCRIPTION),  # NuGet's limit for a description
    Variable("RELEASE_NOTES", R.TEXT, 65536),
    Variable("RELEASE_NOTES_FILE", R.TEXT, 4096),  # the file itself: at most 1 MiB (config/pack.py)
    Variable("SOURCE_DATE_EPOCH", R.WHOLE_NUMBER, EPOCH_RANGE, default="the build commit's time"),  # or 'false'
    Variable("EXTRA_ARGS", R.LIST, 65536),  # as one string, split like a shell
    Variable("OCTOPUS_SERVER", R.GIVEN, 2048),  # alias OCTOPUS_URL
    Variable("OCTOPUS_APIKEY", R.GIVEN, 200),  # alias OCTOPUS_API_KEY; never quoted back
    Variable("OCTOPUS_ACCESS_TOKEN", R.GIVEN, 16384),  # a JWT with many claims is a few KB; never quoted back
    Variable("OCTOPUS_SERVICE_ACCOUNT_ID", R.GIVEN, 200),
    Variable("OCTOPUS_SPACE", R.GIVEN, 200, default="the server's default space"),
    Variable("OVERWRITE_MODE", R.CHOICE, 32, default="FailIfExists"),
    Variable("PUSH_PACKAGE", R.BOOLEAN, default=True),
    Variable("PUSH_BUILD_INFORMATION", R.BOOLEAN, default=True),
    Variable("DELTA_COMPRESSION", R.BOOLEAN, default=True),
    Variable("OCTOPUS_TIMEOUT", R.SECONDS, (1, 86400), default=DEFAULT_TIMEOUT_SECONDS, example="600"),
    Variable("OCTOPUS_CA_BUNDLE", R.TEXT, 4096),
    Variable("OCTOPUS_INSECURE_SKIP_TLS_VERIFY", R.BOOLEAN, default=False),
    Variable("BUILD_INFORMATION_COMMIT_LIMIT", R.WHOLE_NUMBER, (1, 10000), default=DEFAULT_COMMIT_LIMIT,
             example="100"),
    Variable("PACKAGES", R.LIST),
    Variable("DEBUG", R.BOOLEAN, default=False),
)}  # fmt: skip

VARIABLES = tuple(TABLE)
"""Every variable the README documents, in its order: the one list the toolkit's schema and the typo check use."""
LIST_VARIABLES = tuple(name for name, variable in TABLE.items() if variable.reader is Reader.LIST)
"""Variables a YAML list can give, which reach the pipe as NAME_COUNT, NAME_0, NAME_1, ..."""


def max_length(name: str) -> int:
    bound = TABLE[name].bound
    assert isinstance(bound, int), f"{name} has no length bound"
    return bound


def number_range(name: str) -> tuple[int, int]:
    bound = TABLE[name].bound
    assert isinstance(bound, tuple), f"{name} has no number range"
    return bound


def required(env: Mapping[str, str], name: str) -> str:
    variable = TABLE[name]
    assert variable.example is not None
    return values.required(env, name, variable.example, max_length(name))


def text(env: Mapping[str, str], name: str) -> str | None:
    return values.text(env, name, max_length(name))


def given(env: Mapping[str, str], name: str) -> str | None:
    return values.given(env, name, max_length(name))


def boolean(env: Mapping[str, str], name: str) -> bool:
    default = TABLE[name].default
    assert isinstance(default, bool)
    return values.boolean(env, name, default)


def whole_number(env: Mapping[str, str], name: str) -> int:
    variable = TABLE[name]
    assert isinstance(variable.default, int) and variable.example is not None
    return values.whole_number(env, name, variable.default, *number_range(name), variable.example)


def seconds(env: Mapping[str, str], name: str) -> float:
    variable = TABLE[name]
    assert isinstance(variable.default, int | float) and variable.example is not None
    return values.seconds(env, name, variable.default, *number_range(name), variable.example)

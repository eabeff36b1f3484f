"""Read one variable's text into a checked value: the same words, bounds and one-line messages for every variable.

Every check that could be slow or blow up (a length, a count, a number's digits) runs on the raw text before any
conversion, so a 5,000-digit number or a count of a billion is refused at once.
"""

import math
import re
from collections.abc import Mapping

from octopus_pack.config.booleans import parse_boolean
from octopus_pack.errors import PipeError, shortened

MAX_ITEMS = 1000  # NAME_COUNT of a list variable
MAX_ITEM_LENGTH = 4096  # one list item, e.g. a pattern
MAX_NUMBER_DIGITS = 12  # far more than any bound below needs
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,3})?")
_UNEXPANDED = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def quoted(text: str) -> str:
    """A value as every message shows it: in quotes, one line, long ones cut in the middle."""
    return f"'{shortened(text)}'"


def text(env: Mapping[str, str], name: str, max_length: int, example: str | None = None) -> str | None:
    """The variable's text, None when unset or blank; longer than max_length characters is refused."""
    value = env.get(name)
    if value is None or not value.strip():
        return None
    check_length(name, value, max_length, example)
    return value


def check_length(name: str, value: str, max_length: int, example: str | None = None) -> None:
    if len(value) > max_length:
        hint = f", for example '{example}'" if example else ""
        raise PipeError(f"{name} is {len(value):,} characters long ({quoted(value)}): use at most "
                        f"{max_length:,}{hint}.")


def required(env: Mapping[str, str], name: str, example: str, max_length: int) -> str:
    value = text(env, name, max_length, example)
    if value is None:
        raise PipeError(f"{name} is required: add it to the pipe's variables, for example {name}: '{example}'.")
    return value


def given(env: Mapping[str, str], name: str, max_length: int) -> str | None:
    """Like text(), but a `$NAME` left unexpanded (pipe.yml's default for an undefined variable) counts as unset."""
    value = text(env, name, max_length)
    return None if value is None or _UNEXPANDED.fullmatch(value.strip()) else value.strip()


def boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    """true/false, yes/no, on/off, 1/0 in any case; unset or blank gives the default."""
    value = env.get(name)
    if value is None or not value.strip():
        return default
    flag = parse_boolean(value) if len(value) <= 16 else None
    if flag is None:
        raise PipeError(f"{name} is {quoted(value)}: use true or false (yes/no, on/off and 1/0 work too).")
    return flag


def whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int, example: str) -> int:
    """ASCII digits only (no sign, no '1e3', no '²'), within [low, high]."""
    value = env.get(name)
    if value is None or not value.strip():
        return default
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_NUMBER_DIGITS) \
            or not low <= int(digits) <= high:
        raise PipeError(f"{name} is {quoted(value)}: use a whole number from {low:,} to {high:,}, for example "
                        f"'{example}'.")
    return int(digits)


def seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float, example: str) -> float:
    """A finite number of seconds such as '600' or '2.5', within [low, high]."""
    value = env.get(name)
    if value is None or not value.strip():
        return default
    number = float(value.strip()) if _DECIMAL.fullmatch(value.strip()) else math.nan
    if not low <= number <= high:  # NaN fails both comparisons
        raise PipeError(f"{name} is {quoted(value)}: use a number of seconds from {low:g} to {high:g}, for example "
                        f"'{example}'.")
    return number


def array(env: Mapping[str, str], name: str) -> list[str]:
    """A Bitbucket array (NAME_COUNT, NAME_0, ...); a plain NAME string counts as a one-item array."""
    count = env.get(f"{name}_COUNT")
    if count is not None:
        digits = count.strip()
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 4 and int(digits) <= MAX_ITEMS):
            raise PipeError(f"{name}_COUNT is {quoted(count)}: write {name} as a YAML list of at most {MAX_ITEMS} "
                            f"items, for example {name}: ['a', 'b'].")
        items = [env.get(f"{name}_{index}", "") for index in range(int(digits))]
    else:
        value = env.get(name, "")
        items = [value] if value.strip() else []
    for index, item in enumerate(items):
        check_length(f"{name} item {index + 1}", item, MAX_ITEM_LENGTH)
    return items

"""Spot a variable name that is probably one of ours mistyped, so a typo is a warning instead of silence.

"Close" means: the same name in another case or with an underscore missing, added or moved, or a few letters
apart (one for short names, two for long ones). Names that only resemble ours by chance are left alone: short
names must match exactly but for case and underscores, and well-known environment names are never compared.
"""

import re
from collections.abc import Iterable

# Set by Bitbucket, Docker, the image or the shell: never a typo of ours, whatever they look like.
_ENVIRONMENT_PREFIXES = ("BITBUCKET_", "PIPELINES_", "DOCKER_", "PYTHON", "PIP_", "LC_", "XDG_", "SSH_", "GIT_")
_ENVIRONMENT_NAMES = frozenset({
    "_", "CI", "HOME", "HOSTNAME", "LANG", "LANGUAGE", "LOGNAME", "OLDPWD", "PATH", "PWD", "SHELL", "SHLVL", "TERM",
    "TMPDIR", "TZ", "USER", "USERNAME", "USERDOMAIN", "GPG_KEY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
})
_LIST_FORM = re.compile(r"(?P<base>.+?)(?P<suffix>_COUNT|_[0-9]+)")


def likely_typos(names: Iterable[str], known: Iterable[str], list_variables: Iterable[str]) -> list[tuple[str, str]]:
    """(given name, the variable it probably means) for each name that is not ours but is close to one of ours."""
    known = tuple(known)
    list_variables = tuple(list_variables)
    ours = set(known)
    ours.update(f"{name}_COUNT" for name in list_variables)
    found = []
    for name in sorted(names):
        if name in ours or _is_environment_name(name) or _list_item_of(name, list_variables):
            continue
        meant = _closest(name, known)
        form = _LIST_FORM.fullmatch(name)
        if meant is None and form:  # INCLUDES_0 for INCLUDE_0, EXTRA_ARG_COUNT for EXTRA_ARGS_COUNT
            base = _closest(form["base"], list_variables)
            meant = f"{base}{form['suffix']}" if base else None
        if meant is not None:
            found.append((name, meant))
    return found


def _is_environment_name(name: str) -> bool:
    upper = name.upper()
    return upper in _ENVIRONMENT_NAMES or upper.startswith(_ENVIRONMENT_PREFIXES)


def _list_item_of(name: str, list_variables: tuple[str, ...]) -> bool:
    form = _LIST_FORM.fullmatch(name)
    return bool(form and form["suffix"] != "_COUNT" and form["base"] in list_variables)


def _closest(name: str, known: tuple[str, ...]) -> str | None:
    """The known name nearest to `name` within the allowed distance, or None; the first one wins a tie."""
    folded = _folded(name)
    best: tuple[int, str] | None = None
    for candidate in known:
        target = _folded(candidate)
        allowed = 0 if len(target) <= 3 else 1 if len(target) <= 7 else 2
        distance = _edit_distance(folded, target, allowed)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _folded(name: str) -> str:
    """Case and underscores ignored: OCTOPUS_APIKEY, octopus_api_key and OCTOPUSAPIKEY all fold the same."""
    return name.upper().replace("_", "")


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance with adjacent swaps counted as one edit, or limit + 1 when it is more than `limit`.

    Only the band of cells within `limit` of the diagonal can hold a distance that small, so only it is computed.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if a == b:
        return 0
    beyond = limit + 1
    before: list[int] = []
    row = [j if j <= limit else beyond for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        current = [beyond] * (len(b) + 1)
        if i <= limit:
            current[0] = i
        for j in range(max(1, i - limit), min(len(b), i + limit) + 1):
            cost = a[i - 1] != b[j - 1]
            value = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            current[j] = min(value, beyond)
        if min(current) > limit:
            return beyond
        before, row = row, current
    return row[-1]

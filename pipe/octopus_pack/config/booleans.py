"""The words the pipe reads as true or false, in variables and in EXTRA_ARGS alike."""

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def parse_boolean(text: str) -> bool | None:
    """True or False for a yes/no word (any case, spaces ignored); None when the text is neither."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None

"""OVERWRITE_MODE's one decision table, for packages and build information alike: what the server's copy means.

Octopus applies the mode itself when we send (Octopus.Client: Model/OverwriteMode.cs); we ask first, so a re-run
of the same build sends nothing and a refusal names both copies. The wording of each outcome stays with its caller.
"""

from enum import Enum

from octopus_pack.octopus.settings import OverwriteMode


class Verdict(Enum):
    """What to do about the server's copy before sending ours."""

    SEND = "send"  # the server holds none: send ours
    IDENTICAL = "identical"  # the server holds exactly ours: nothing to send
    KEEP = "keep"  # the server holds other (or uncomparable) content and keeps it: IgnoreIfExists
    REFUSE = "refuse"  # the server holds other (or uncomparable) content, which FailIfExists must not replace
    REPLACE = "replace"  # the server holds other content, which OverwriteExisting replaces: send ours


_WHEN_DIFFERENT = {
    OverwriteMode.FAIL_IF_EXISTS: Verdict.REFUSE,
    OverwriteMode.IGNORE_IF_EXISTS: Verdict.KEEP,
    OverwriteMode.OVERWRITE_EXISTING: Verdict.REPLACE,
}


def before_sending(mode: OverwriteMode, held: bool, same: bool | None) -> Verdict:
    """The verdict for the server's copy: `held` says whether there is one, `same` whether it is ours (None when
    it cannot be compared, which counts as different)."""
    if not held:
        return Verdict.SEND
    if same:
        return Verdict.IDENTICAL
    return _WHEN_DIFFERENT[mode]


def kept_instead(mode: OverwriteMode, same: bool) -> bool:
    """After a success answer: the server answered with a copy other than ours, which IgnoreIfExists explains (it
    kept its own, stored between our look-up and our request)."""
    return not same and mode is OverwriteMode.IGNORE_IF_EXISTS


def refused_as_existing(mode: OverwriteMode, exists: bool) -> bool:
    """An error answer saying the item exists is FailIfExists at work (any other mode would have taken ours)."""
    return exists and mode is OverwriteMode.FAIL_IF_EXISTS


def needed_permission(mode: OverwriteMode, push: str, administer: str) -> str:
    """The permission a 403 lacked: replacing needs the Administer one, adding the Push one."""
    return administer if mode is OverwriteMode.OVERWRITE_EXISTING else push

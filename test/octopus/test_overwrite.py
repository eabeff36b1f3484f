"""OVERWRITE_MODE's one decision table, which packages and build information both use."""

import pytest

from octopus_pack.octopus.overwrite import Verdict, before_sending, kept_instead, needed_permission, refused_as_existing
from octopus_pack.octopus.settings import OverwriteMode

FAIL, IGNORE, OVERWRITE = OverwriteMode.FAIL_IF_EXISTS, OverwriteMode.IGNORE_IF_EXISTS, OverwriteMode.OVERWRITE_EXISTING


@pytest.mark.parametrize(
    ("mode", "held", "same", "verdict"),
    [
        (FAIL, False, None, Verdict.SEND), (IGNORE, False, None, Verdict.SEND), (OVERWRITE, False, None, Verdict.SEND),
        (FAIL, True, True, Verdict.IDENTICAL), (IGNORE, True, True, Verdict.IDENTICAL),
        (OVERWRITE, True, True, Verdict.IDENTICAL),
        (FAIL, True, False, Verdict.REFUSE), (IGNORE, True, False, Verdict.KEEP),
        (OVERWRITE, True, False, Verdict.REPLACE),
        (FAIL, True, None, Verdict.REFUSE), (IGNORE, True, None, Verdict.KEEP),
        (OVERWRITE, True, None, Verdict.REPLACE),
    ],
)
def test_the_server_copy_decides_before_sending(mode, held, same, verdict):
    assert before_sending(mode, held, same) is verdict


def test_only_ignore_if_exists_explains_an_answer_with_another_copy():
    assert [kept_instead(mode, False) for mode in (FAIL, IGNORE, OVERWRITE)] == [False, True, False]
    assert not any(kept_instead(mode, True) for mode in (FAIL, IGNORE, OVERWRITE))


def test_only_fail_if_exists_refuses_an_existing_item():
    assert [refused_as_existing(mode, True) for mode in (FAIL, IGNORE, OVERWRITE)] == [True, False, False]
    assert not any(refused_as_existing(mode, False) for mode in (FAIL, IGNORE, OVERWRITE))


def test_replacing_needs_the_administer_permission():
    assert [needed_permission(mode, "Push", "Administer") for mode in (FAIL, IGNORE, OVERWRITE)] == [
        "Push", "Push", "Administer"]

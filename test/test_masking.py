"""The secret mask at the logging layer and on the standard streams."""

import io
import logging
import sys

from octopus_pack import masking

SECRET = "API-MASKMEPLEASE77"


def test_records_are_masked_in_message_arguments_and_exception_text():
    masking.register_secret(SECRET)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("mask-test")
    logger.addHandler(handler)
    masking.install_mask(logger)
    masking.install_mask(logger)  # idempotent
    try:
        logger.warning("Connected as %s", SECRET)
        try:
            raise RuntimeError(f"server said {SECRET}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert SECRET not in text
    assert "Connected as <hidden>" in text and "RuntimeError: server said <hidden>" in text
    assert sum(isinstance(f, masking.SecretMask) for f in handler.filters) == 1


def test_printed_lines_are_masked(monkeypatch):
    masking.register_secret(SECRET)
    target = io.StringIO()
    monkeypatch.setattr(sys, "stdout", target)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    masking.install_mask(logging.getLogger("mask-test-empty"))
    assert isinstance(sys.stdout, masking.MaskedStream)
    print(f"✖ Octopus refused it: {SECRET}")
    assert target.getvalue() == "✖ Octopus refused it: <hidden>\n"

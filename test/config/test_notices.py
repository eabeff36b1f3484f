"""Warnings found while the settings are read wait for the toolkit's logging, so they look like every other one."""

import logging
import re

from fixtures_pipe import run_pipe_natively
from octopus_pack.config.notices import Notice
from octopus_pack.config.settings import settings_from

NUPKG = {"ID": "MyApp", "FORMAT": "nupkg", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out"}
MISSING = "The release notes file 'CHANGES.md' could not be found; packing without it."


def test_a_missing_release_notes_file_is_a_notice_of_the_settings(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("1")

    settings = settings_from({**NUPKG, "RELEASE_NOTES_FILE": "CHANGES.md"}, tmp_path)

    assert Notice(logging.WARNING, MISSING) in settings.notices
    assert settings.pack is not None and settings.pack.metadata is not None
    assert settings.pack.metadata.release_notes is None


def test_it_is_printed_as_a_warning_once_logging_is_set_up_and_the_package_is_written(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("1")

    run = run_pipe_natively({**NUPKG, "RELEASE_NOTES_FILE": "CHANGES.md"}, tmp_path)

    assert run.returncode == 0, run.output
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in run.output.splitlines() if MISSING in line]
    assert lines == [f"WARNING: {MISSING}"]
    assert (tmp_path / "out" / "MyApp.1.0.0.nupkg").is_file()

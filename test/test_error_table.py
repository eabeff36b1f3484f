"""docs/errors.md shows the exact lines the pipe prints: each row is produced here and compared verbatim.

Every row is produced in-process (closing_lines: the settings, then the packing); three rows also run
`python3 pipe/pipe.py` to show the printed line is the same.

The README's short list of the commonest errors quotes rows of that table, word for word.

Paths in the table are Bitbucket's clone folder, /opt/atlassian/pipelines/agent/build; the test's checkout
stands in for it.
"""

import re
from pathlib import Path

import pytest

from closing_lines import as_printed, stop_message
from fixtures_pipe import REPO_ROOT, run_pipe_natively

CLONE_IN_DOCS = "/opt/atlassian/pipelines/agent/build"
ARTICLE = {"ID": "randomquotes-js", "FORMAT": "Zip", "VERSION": "1.0.0.0", "SOURCE_PATH": ".", "OUTPUT_PATH": "./out"}
SERVER = {"OCTOPUS_SERVER": "https://octopus.example", "OCTOPUS_APIKEY": "API-EXAMPLE0123456789"}

# The table's "Problem" column -> the variables that cause it (None removes a variable).
SCENARIOS: dict[str, dict[str, str | None]] = {
    "A required variable is missing": {"ID": None},
    "FORMAT is not zip or nupkg": {"FORMAT": "tar"},
    "VERSION is not a valid version": {"VERSION": "v1"},
    "A value that is far too long": {"VERSION": "1" * 300},
    "ID cannot be a file name (zip)": {"ID": "a/b"},
    "ID is not a NuGet package ID (nupkg)": {"ID": "my app", "FORMAT": "nupkg"},
    "SOURCE_PATH is not a folder": {"SOURCE_PATH": "dist"},
    "OUTPUT_PATH is a file": {"OUTPUT_PATH": "package.json"},
    "The package exists": {"ID": "existing"},
    "The package name is too long for the file system": {"ID": "A" * 251},
    "An unknown option in EXTRA_ARGS": {"EXTRA_ARGS": "--frobnicate"},
    "A value without an option in EXTRA_ARGS": {"EXTRA_ARGS": "x"},
    "EXTRA_ARGS sets what a variable sets": {"EXTRA_ARGS": "--version 2"},
    "A variable and EXTRA_ARGS disagree": {"FORMAT": "nupkg", "TITLE": "A", "EXTRA_ARGS": "--title B"},
    "A bad COMPRESSION_LEVEL": {"COMPRESSION_LEVEL": "max"},
    "A bad true/false value (any yes/no variable, DEBUG too)": {"OVERWRITE": "maybe"},
    "A bad number": {"OCTOPUS_TIMEOUT": "0"},
    "A bad list": {"INCLUDE_COUNT": "two"},
    "A bad SOURCE_DATE_EPOCH": {"SOURCE_DATE_EPOCH": "yesterday"},
    "RELEASE_NOTES_FILE is not a regular file": {"FORMAT": "nupkg", "RELEASE_NOTES_FILE": "/dev/zero"},
    "A pattern outside SOURCE_PATH": {"INCLUDE": "../x"},
    "An INCLUDE file that does not exist": {"INCLUDE": "app.config"},
    "Two files on one nupkg path": {"FORMAT": "nupkg", "INCLUDE_COUNT": "2", "INCLUDE_0": "src/*.js",
                                    "INCLUDE_1": "lib/*.js"},
    "Nothing to put in a nupkg": {"FORMAT": "nupkg", "EXCLUDE": "**"},
    "Text XML cannot hold": {"FORMAT": "nupkg", "DESCRIPTION": "bell \x07"},
    "Octopus: no credential": {**SERVER, "OCTOPUS_APIKEY": None},
    "Octopus: two credentials": {**SERVER, "OCTOPUS_SERVICE_ACCOUNT_ID": "a6f2c1e0-service-account"},
    "OIDC: no step token": {**SERVER, "OCTOPUS_APIKEY": None, "OCTOPUS_SERVICE_ACCOUNT_ID": "a6f2c1e0-service-account"},
    "Octopus: not an API key": {**SERVER, "OCTOPUS_APIKEY": "my-key"},
    "Octopus: not a URL": {**SERVER, "OCTOPUS_SERVER": "octopus.example"},
    "Octopus: a bad OVERWRITE_MODE": {"OVERWRITE_MODE": "skip"},
}


ERRORS_DOC = REPO_ROOT / "docs" / "errors.md"


def table_rows(header: str = "| Problem | The line says |", text: str | None = None) -> dict[str, str]:
    """First column -> the line's text, from the first table with this header in docs/errors.md (or `text`)."""
    table = (ERRORS_DOC.read_text() if text is None else text).split(header, 1)[1].split("\n\n", 1)[0]
    return {match.group(1): match.group(3).replace("\\|", "|")  # `line`, or ``line`` when it holds a backtick
            for match in re.finditer(r"^\| (.+?) \| (`+)(.+?)\2 \|$", table, re.MULTILINE)}


def test_every_row_has_a_scenario():
    assert set(table_rows()) == set(SCENARIOS)


def test_the_readmes_commonest_errors_quote_the_full_tables():
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n## Commonest errors\n", 1)[1].split("\n## ", 1)[0]
    commonest = table_rows(text=section)
    assert len(commonest) == 5
    documented = {**table_rows(), **table_rows(text=ERRORS_DOC.read_text().split("\n## Answers from Octopus\n")[1])}
    assert {problem: documented.get(problem) for problem in commonest} == commonest


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    for name, text in {"package.json": "{}", "src/app.js": "console.log(1)", "lib/app.js": "other",
                       "out/existing.1.0.0.0.zip": "PK"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def scenario_env(problem: str) -> dict[str, str]:
    return {name: value for name, value in {**ARTICLE, **SCENARIOS[problem]}.items() if value is not None}


@pytest.mark.parametrize("problem", list(SCENARIOS))
def test_the_table_shows_the_exact_line(clone, problem):
    line = as_printed(stop_message(scenario_env(problem), clone))
    assert line.replace(str(clone), CLONE_IN_DOCS) == f"✖ {table_rows()[problem]}"


@pytest.mark.parametrize("problem", ["A required variable is missing", "The package exists", "Text XML cannot hold"])
def test_the_pipe_prints_that_line(clone, problem):
    run = run_pipe_natively(scenario_env(problem), clone)
    assert run.returncode == 1, run.output
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in run.stdout.splitlines() if "✖" in line]
    assert len(lines) == 1, run.output
    assert lines[0].replace(str(clone), CLONE_IN_DOCS) == f"✖ {table_rows()[problem]}"

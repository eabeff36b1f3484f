"""Every documented variable, given bad values, stops the pipe with one line that names it: never a dump or a bug.

Every case runs in-process through the same two calls pipe.py makes before any output (config's settings_from,
then pack's build_package for what only the packing can see) and checks the PipeError message that pipe.py
prints as its closing line. A few cases, one per kind of line, also run `python3 pipe/pipe.py` as Bitbucket
would, to prove the real output: that one line, exit code 1, no traceback. The table must cover every variable
the README's variables tables list (a new variable without bad values here fails
test_every_documented_variable_is_covered).
"""

import re
from pathlib import Path

import pytest

from closing_lines import as_printed, stop_message
from fixtures_pipe import REPO_ROOT, run_pipe_natively
from octopus_pack.config.settings import settings_from

GOOD = {"ID": "MyApp", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out"}
NUPKG = {"FORMAT": "nupkg"}
SERVER = {"OCTOPUS_SERVER": "http://127.0.0.1:9", "OCTOPUS_APIKEY": "API-TESTKEY0123456789"}
LONG = "x" * 5000
HUGE_NUMBER = "9" * 5000


def _list(name: str, *items: str) -> dict[str, str]:
    return {f"{name}_COUNT": str(len(items)), **{f"{name}_{index}": item for index, item in enumerate(items)}}


# variable -> [(environment changes, why it is bad)]; "{clone}" in a value is the test's checkout.
BAD_VALUES: dict[str, list[dict[str, str]]] = {
    "ID": [{"ID": "a/b"}, {"ID": ".."}, {"ID": LONG}, {"ID": "my app", **NUPKG}, {"ID": "x" * 101, **NUPKG}],
    "FORMAT": [{"FORMAT": "tar"}, {"FORMAT": "zipx"}, {"FORMAT": LONG}],
    "VERSION": [{"VERSION": "v1"}, {"VERSION": "1.2.3.4.5"}, {"VERSION": HUGE_NUMBER},
                {"VERSION": "1.0.0-" + "a" * 240}, {"VERSION": "1.0.0-" + "b" * 251, **NUPKG}],
    "SOURCE_PATH": [{"SOURCE_PATH": "missing"}, {"SOURCE_PATH": "src/app.js"}, {"SOURCE_PATH": "/x" * 2100}],
    "OUTPUT_PATH": [{"OUTPUT_PATH": "src/app.js"}, {"OUTPUT_PATH": "src/app.js/out"}, {"OUTPUT_PATH": "/o" * 2100}],
    "INCLUDE": [{"INCLUDE": "../x"}, {"INCLUDE": "/etc/**"}, {"INCLUDE_COUNT": "two"},
                {"INCLUDE_COUNT": "1000000000"}, {"INCLUDE_COUNT": "-1"}, _list("INCLUDE", "nothing.txt")],
    "EXCLUDE": [{"EXCLUDE": "../x"}, {"EXCLUDE": "/abs"}, {"EXCLUDE_COUNT": "1.5"}, _list("EXCLUDE", "a" * 5000)],
    "OVERWRITE": [{"OVERWRITE": "maybe"}, {"OVERWRITE": "2"}, {"OVERWRITE": "yess"},
                  {"OVERWRITE": "true", **_list("EXTRA_ARGS", "--overwrite=false")}],
    "COMPRESSION_LEVEL": [{"COMPRESSION_LEVEL": "max"}, {"COMPRESSION_LEVEL": "9"}, {"COMPRESSION_LEVEL": LONG}],
    "AUTHORS": [{**NUPKG, "AUTHORS": "bell \x07"}, {**NUPKG, "AUTHORS_COUNT": "x"},
                {**NUPKG, **_list("AUTHORS", "a" * 5000)}],
    "TITLE": [{**NUPKG, "TITLE": "bell \x07"}, {**NUPKG, "TITLE": "t" * 257},
              {**NUPKG, "TITLE": "A", **_list("EXTRA_ARGS", "--title", "B")}],
    "DESCRIPTION": [{**NUPKG, "DESCRIPTION": "bell \x07"}, {**NUPKG, "DESCRIPTION": "d" * 4001},
                    {**NUPKG, "DESCRIPTION": "\x1b[31m"}],
    "RELEASE_NOTES": [{**NUPKG, "RELEASE_NOTES": "bell \x07"}, {**NUPKG, "RELEASE_NOTES": "n" * 65537},
                      {**NUPKG, "RELEASE_NOTES": "a\x0cb"}],
    "RELEASE_NOTES_FILE": [{**NUPKG, "RELEASE_NOTES_FILE": "/dev/zero"}, {**NUPKG, "RELEASE_NOTES_FILE": "src"},
                           {**NUPKG, "RELEASE_NOTES_FILE": "big.txt"}, {**NUPKG, "RELEASE_NOTES_FILE": "latin1.txt"}],
    "SOURCE_DATE_EPOCH": [{"SOURCE_DATE_EPOCH": "²"}, {"SOURCE_DATE_EPOCH": "yesterday"},
                          {"SOURCE_DATE_EPOCH": "-1"}, {"SOURCE_DATE_EPOCH": "99999999999"},
                          {"SOURCE_DATE_EPOCH": "1.5"}, {"SOURCE_DATE_EPOCH": "100"}],
    "EXTRA_ARGS": [_list("EXTRA_ARGS", "--frobnicate"), _list("EXTRA_ARGS", "stray"), {"EXTRA_ARGS": "--id=x"},
                   {"EXTRA_ARGS": "'unbalanced"}, {"EXTRA_ARGS_COUNT": "abc"}, _list("EXTRA_ARGS", "--logLevel=loud")],
    "OCTOPUS_SERVER": [{**SERVER, "OCTOPUS_SERVER": "ftp://x"}, {**SERVER, "OCTOPUS_SERVER": "not a url"},
                       {**SERVER, "OCTOPUS_SERVER": "http://"}, {**SERVER, "OCTOPUS_SERVER": "http://" + LONG}],
    "OCTOPUS_APIKEY": [{**SERVER, "OCTOPUS_APIKEY": "abc"}, {**SERVER, "OCTOPUS_APIKEY": "API-lower"},
                       {**SERVER, "OCTOPUS_APIKEY": ""}, {**SERVER, "OCTOPUS_APIKEY": "API-" + "A" * 300}],
    "OCTOPUS_ACCESS_TOKEN": [{**SERVER, "OCTOPUS_ACCESS_TOKEN": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"},
                             {**SERVER, "OCTOPUS_APIKEY": "", "OCTOPUS_ACCESS_TOKEN": "API-TESTKEY0123456789"},
                             {**SERVER, "OCTOPUS_APIKEY": "", "OCTOPUS_ACCESS_TOKEN": "t" * 20000}],
    "OCTOPUS_SERVICE_ACCOUNT_ID": [{**SERVER, "OCTOPUS_APIKEY": "", "OCTOPUS_SERVICE_ACCOUNT_ID": "sa-1"},
                                   {**SERVER, "OCTOPUS_SERVICE_ACCOUNT_ID": "sa-1"},
                                   {"OCTOPUS_SERVICE_ACCOUNT_ID": "s" * 201}],
    "OCTOPUS_SPACE": [{"OCTOPUS_SPACE": "a\x01b"}, {"OCTOPUS_SPACE": "s" * 201}, {"OCTOPUS_SPACE": "\x7f"}],
    "OVERWRITE_MODE": [{"OVERWRITE_MODE": "maybe"}, {"OVERWRITE_MODE": "1"}, {"OVERWRITE_MODE": LONG}],
    "PUSH_PACKAGE": [{"PUSH_PACKAGE": "maybe"}, {"PUSH_PACKAGE": "2"}, {"PUSH_PACKAGE": "null"}],
    "PUSH_BUILD_INFORMATION": [{"PUSH_BUILD_INFORMATION": "maybe"}, {"PUSH_BUILD_INFORMATION": "-1"},
                               {"PUSH_BUILD_INFORMATION": LONG}],
    "DELTA_COMPRESSION": [{"DELTA_COMPRESSION": "maybe"}, {"DELTA_COMPRESSION": "tru"}, {"DELTA_COMPRESSION": "[]"}],
    "OCTOPUS_TIMEOUT": [{"OCTOPUS_TIMEOUT": "abc"}, {"OCTOPUS_TIMEOUT": "0"}, {"OCTOPUS_TIMEOUT": ".inf"},
                        {"OCTOPUS_TIMEOUT": ".nan"}, {"OCTOPUS_TIMEOUT": "99999999999999999999"},
                        {"OCTOPUS_TIMEOUT": "86401"}, {"OCTOPUS_TIMEOUT": "1e3"}],
    "OCTOPUS_CA_BUNDLE": [{"OCTOPUS_CA_BUNDLE": "missing.pem"}, {"OCTOPUS_CA_BUNDLE": "src"},
                          {"OCTOPUS_CA_BUNDLE": "/dev/zero"},
                          {"OCTOPUS_CA_BUNDLE": "src/app.js", "OCTOPUS_INSECURE_SKIP_TLS_VERIFY": "true"}],
    "OCTOPUS_INSECURE_SKIP_TLS_VERIFY": [{"OCTOPUS_INSECURE_SKIP_TLS_VERIFY": "maybe"},
                                         {"OCTOPUS_INSECURE_SKIP_TLS_VERIFY": "y"},
                                         {"OCTOPUS_INSECURE_SKIP_TLS_VERIFY": "enable"}],
    "BUILD_INFORMATION_COMMIT_LIMIT": [{"BUILD_INFORMATION_COMMIT_LIMIT": "1.5"},
                                       {"BUILD_INFORMATION_COMMIT_LIMIT": "0"},
                                       {"BUILD_INFORMATION_COMMIT_LIMIT": "10001"},
                                       {"BUILD_INFORMATION_COMMIT_LIMIT": "abc"},
                                       {"BUILD_INFORMATION_COMMIT_LIMIT": HUGE_NUMBER}],
    "PACKAGES": [{**SERVER, "PACKAGES": "missing/*.jar"}, {**SERVER, "PACKAGES": "src"},
                 {**SERVER, "PACKAGES": "src/app.js"}, {**SERVER, "PACKAGES": "big.txt"}, {"PACKAGES": "src/*"},
                 {**SERVER, "PACKAGES_COUNT": "x"}, {**SERVER, **_list("PACKAGES", "a" * 5000)}],
    "DEBUG": [{"DEBUG": "maybe"}, {"DEBUG": "2"}, {"DEBUG": "enabled"}],
}
CASES = [(name, change) for name, changes in BAD_VALUES.items() for change in changes]


def _documented_variables() -> set[str]:
    """The first column of the README's variables tables (between '## Variables' and the next '## ')."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n## Variables\n", 1)[1].split("\n## ", 1)[0]
    return {match.group(1) for match in re.finditer(r"^\| ([A-Z][A-Z0-9_]+)(?: \(\*\))? \|", section, re.MULTILINE)}


def test_every_documented_variable_is_covered():
    assert set(BAD_VALUES) == _documented_variables()
    assert all(len(changes) >= 3 for changes in BAD_VALUES.values())


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("console.log(1)")
    (tmp_path / "big.txt").write_bytes(b"n" * ((1 << 20) + 1))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    return tmp_path


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(path.relative_to(root)), path.stat().st_size) for path in root.rglob("*"))


def _check_message(name: str, change: dict[str, str], message: str) -> None:
    assert name in message, message
    assert "Unexpected error" not in message and "Validation errors" not in message, message
    assert len(message) < 600, message
    if name == "OCTOPUS_APIKEY":
        assert "API-" not in message.replace("(API- followed", ""), "a key is never quoted"
    if name == "OCTOPUS_ACCESS_TOKEN":
        assert change[name] not in message and "ttttt" not in message, "a token is never quoted"


@pytest.mark.parametrize(("name", "change"), CASES, ids=[f"{name}-{index}" for index, (name, _) in enumerate(CASES)])
def test_a_bad_value_stops_with_a_message_naming_the_variable(clone, name, change):
    before = _tree(clone)
    _check_message(name, change, stop_message({**GOOD, **change}, clone))
    assert _tree(clone) == before, "nothing may be written"


# One case per kind of closing line: a plain setting, a masked key, a huge token, a control character that must
# not break the line, and a value only the packing (selection, then publishing) can refuse.
IN_A_CHILD_PROCESS = [("FORMAT", {"FORMAT": "tar"}),
                      ("OCTOPUS_APIKEY", {**SERVER, "OCTOPUS_APIKEY": "API-lower"}),
                      ("OCTOPUS_ACCESS_TOKEN", {**SERVER, "OCTOPUS_APIKEY": "", "OCTOPUS_ACCESS_TOKEN": "t" * 20000}),
                      ("RELEASE_NOTES", {**NUPKG, "RELEASE_NOTES": "bell \x07"}),
                      ("INCLUDE", {"INCLUDE": "../x"}),
                      ("OUTPUT_PATH", {"OUTPUT_PATH": "src/app.js"})]


@pytest.mark.parametrize(("name", "change"), IN_A_CHILD_PROCESS, ids=[name for name, _ in IN_A_CHILD_PROCESS])
def test_the_pipe_prints_that_message_as_one_line_and_exits_1(clone, name, change):
    assert (name, change) in CASES
    before = _tree(clone)
    message = stop_message({**GOOD, **change}, clone)
    run = run_pipe_natively({**GOOD, **change}, clone, timeout=60)
    assert run.returncode == 1, run.output
    failures = [line for line in run.output.splitlines() if "✖" in line]
    assert len(failures) == 1, run.output
    line = re.sub(r"\x1b\[[0-9;]*m", "", failures[0])
    assert line == as_printed(message), "the closing line is the message as written, escaped where needed"
    assert "Unexpected error" not in run.output and "Traceback" not in run.output, run.output
    assert "Validation errors" not in run.output, run.output
    if name == "OCTOPUS_ACCESS_TOKEN":
        assert "ttttt" not in run.output, "a token is never quoted"
    assert _tree(clone) == before, "nothing may be written"


def test_the_same_words_mean_true_and_false_everywhere(clone):
    for word, expected in (("TRUE", True), ("Yes", True), ("on", True), ("1", True), ("False", False),
                           ("NO", False), ("off", False), ("0", False)):
        settings = settings_from({**GOOD, **SERVER, "DEBUG": word, "OVERWRITE": word, "PUSH_PACKAGE": word}, clone)
        assert settings.pack and settings.octopus
        assert (settings.logging.debug, settings.pack.overwrite, settings.octopus.push_package) == (expected,) * 3, word

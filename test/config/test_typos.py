"""A variable name close to one of ours is a WARNING naming the variable we expected; the run goes on."""

import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures_pipe import REPO_ROOT, run_pipe_natively
from octopus_pack.config.settings import LIST_VARIABLES, VARIABLES, settings_from
from octopus_pack.config.typos import _edit_distance, likely_typos

KNOWN = (*VARIABLES, "OCTOPUS_URL", "OCTOPUS_API_KEY")
PACK = {"ID": "Web", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out"}


def typos(*names: str) -> dict[str, str]:
    return dict(likely_typos(names, KNOWN, LIST_VARIABLES))


@pytest.mark.parametrize(("given", "meant"), [
    ("OCTOPUS_SEVER", "OCTOPUS_SERVER"),  # a letter missing
    ("OVERWRITE_MOD", "OVERWRITE_MODE"),
    ("octopus_server", "OCTOPUS_SERVER"),  # another case
    ("Id", "ID"),
    ("OCTOPUSSERVER", "OCTOPUS_SERVER"),  # an underscore missing
    ("SOURCE__PATH", "SOURCE_PATH"),  # one too many
    ("OCTOPUSAPI_KEY", "OCTOPUS_APIKEY"),  # moved; as close to the alias OCTOPUS_API_KEY, our own name wins
    ("OCTOPSU_SPACE", "OCTOPUS_SPACE"),  # two letters swapped
    ("DEBGU", "DEBUG"),
    ("PUSH_BUILD_INFORMATON", "PUSH_BUILD_INFORMATION"),
    ("RELEASE_NOTE_FILE", "RELEASE_NOTES_FILE"),
    ("INCLUDES", "INCLUDE"),
    ("INCLUDES_0", "INCLUDE_0"),  # a list's items
    ("EXTRA_ARG_COUNT", "EXTRA_ARGS_COUNT"),
])  # fmt: skip
def test_a_close_name_names_the_variable_we_expected(given, meant):
    assert typos(given) == {given: meant}


@pytest.mark.parametrize("name", [
    *VARIABLES, "OCTOPUS_URL", "OCTOPUS_API_KEY", "INCLUDE_COUNT", "INCLUDE_0", "EXTRA_ARGS_12", "AUTHORS_COUNT",
    "BITBUCKET_COMMIT", "BITBUCKET_STEP_OIDC_TOKEN", "PATH", "HOME", "HOSTNAME", "PWD", "LANG", "TERM", "SHLVL", "_",
    "PYTHON_VERSION", "GPG_KEY", "https_proxy", "NO_PROXY", "LC_ALL", "CI", "USERNAME", "USERDOMAIN",
    "IP", "IDS", "TZ",  # short names: only case and underscores count
    "VERBOSE", "OCTOPUS_PROJECT", "DEPLOY_ENVIRONMENT", "MY_SECRET", "NODE_VERSION", "OUTPUT", "SOURCE",
])  # fmt: skip
def test_our_names_and_unrelated_ones_are_left_alone(name):
    assert typos(name) == {}


def test_the_readme_documents_exactly_the_variables_the_typo_check_knows():
    readme = (REPO_ROOT / "README.md").read_text()
    definition = readme.split("\n## YAML Definition\n", 1)[1].split("```", 2)[1]
    in_yaml = re.findall(r"^ {4}(?:# )?([A-Z][A-Z0-9_]+):", definition, re.MULTILINE)
    variables = readme.split("\n## Variables\n", 1)[1].split("\n## ", 1)[0]
    in_tables = re.findall(r"^\| ([A-Z][A-Z0-9_]+)(?: \(\*\))? \|", variables, re.MULTILINE)
    assert in_yaml == list(VARIABLES)
    assert sorted(in_tables) == sorted(VARIABLES)


def full_edit_distance(a: str, b: str) -> int:
    """The textbook table (Levenshtein plus adjacent swaps), every cell computed."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[-1][-1]


@given(st.text("ABC", max_size=9), st.text("ABC", max_size=9), st.integers(0, 3))
def test_the_banded_distance_agrees_with_the_full_table_up_to_the_limit(a, b, limit):
    assert min(_edit_distance(a, b, limit), limit + 1) == min(full_edit_distance(a, b), limit + 1)


def clone(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("console.log(1)")
    return tmp_path


def warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "WARNING:" in line]


def test_a_mistyped_server_is_a_coloured_warning_and_the_run_still_packs(tmp_path):
    run = run_pipe_natively({**PACK, "OCTOPUS_SEVER": "https://octopus.example",
                             "OCTOPUS_APIKEY": "API-EXAMPLE0123456789"}, clone(tmp_path))
    assert run.returncode == 0, run.output
    assert warnings(run.stderr) == [  # the toolkit's format and colour, like every other warning of the run
        "\x1b[33mWARNING: OCTOPUS_SEVER is not a variable of this pipe: did you mean OCTOPUS_SERVER?\x1b[0m",
        "\x1b[33mWARNING: OCTOPUS_APIKEY is set but OCTOPUS_SERVER is not, so nothing is pushed to Octopus.\x1b[0m",
    ]
    assert "API-EXAMPLE0123456789" not in run.output
    assert (tmp_path / "out" / "Web.1.0.0.zip").is_file()
    assert "✔ Packaging successful. Created package out/Web.1.0.0.zip (1 files" in run.stdout


def warnings_in_process(env: dict[str, str], cwd: Path) -> list[str]:
    """The warnings settings_from hands the runner, which logs each as one WARNING line (shown in a child
    process by the first test above)."""
    settings = settings_from(env, cwd)
    assert settings.pack is not None
    return [notice.message for notice in settings.notices if notice.level == logging.WARNING]


def test_a_mistyped_overwrite_mode_is_a_warning(tmp_path):
    assert warnings_in_process({**PACK, "OVERWRITE_MOD": "overwrite"}, clone(tmp_path)) == [
        "OVERWRITE_MOD is not a variable of this pipe: did you mean OVERWRITE_MODE?"]


def test_turning_both_pushes_off_is_a_warning(tmp_path):
    env = {**PACK, "OCTOPUS_SERVER": "http://127.0.0.1:9", "OCTOPUS_APIKEY": "API-EXAMPLE0123456789",
           "PUSH_PACKAGE": "false", "PUSH_BUILD_INFORMATION": "no"}
    assert warnings_in_process(env, clone(tmp_path)) == [
        "PUSH_PACKAGE and PUSH_BUILD_INFORMATION are both false, so nothing is pushed to Octopus."]


def test_when_a_mistyped_name_makes_the_settings_fail_the_warning_comes_before_the_closing_line(tmp_path):
    env = {name: value for name, value in PACK.items() if name != "SOURCE_PATH"} | {"SORCE_PATH": "src"}
    run = run_pipe_natively(env, clone(tmp_path))
    assert run.returncode == 1
    assert [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in warnings(run.stderr)] == [
        "WARNING: SORCE_PATH is not a variable of this pipe: did you mean SOURCE_PATH?"]
    assert [line for line in run.stdout.splitlines() if "✖" in line] == [
        "\x1b[31m✖ SOURCE_PATH is required: add it to the pipe's variables, for example SOURCE_PATH: '.'.\x1b[0m"]

"""The table of the variables (config/variables.py) is what the README's variables tables say, bound for bound."""

import re
from pathlib import Path

import pytest

from octopus_pack.config.variables import TABLE, Reader

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
ROWS = {match[1]: match[2] for match in re.finditer(r"^\| ([A-Z][A-Z0-9_]+)(?: \(\*\))? \|(.*)\|$",
                                                     README.split("\n## Variables\n", 1)[1].split("\n## ", 1)[0],
                                                     re.MULTILINE)}
# Bounds that only keep a pasted novel out: the words of a choice, a path that is then checked as a file.
UNDOCUMENTED_BOUNDS = {"FORMAT", "COMPRESSION_LEVEL", "OVERWRITE_MODE", "OCTOPUS_CA_BUNDLE", "RELEASE_NOTES_FILE"}


@pytest.mark.parametrize("name", [name for name, variable in TABLE.items()
                                  if variable.bound is not None and name not in UNDOCUMENTED_BOUNDS])
def test_the_readme_states_each_bound(name):
    bound = TABLE[name].bound
    row = ROWS[name]
    if isinstance(bound, tuple):
        assert f"`{bound[0]}`" in row and f"`{bound[1]}`" in row
    else:
        assert f"{bound:,}" in row


@pytest.mark.parametrize("name", [name for name, variable in TABLE.items() if variable.reader is Reader.BOOLEAN])
def test_the_readme_states_each_boolean_default(name):
    assert f"Default: `{str(TABLE[name].default).lower()}`" in ROWS[name]


@pytest.mark.parametrize("name", ["OVERWRITE_MODE", "COMPRESSION_LEVEL", "OCTOPUS_TIMEOUT",
                                  "BUILD_INFORMATION_COMMIT_LIMIT", "DESCRIPTION"])
def test_the_readme_states_each_other_default(name):
    assert f"Default: `{TABLE[name].default}`" in ROWS[name]


def test_required_variables_are_marked_in_the_readme():
    marked = re.findall(r"^\| ([A-Z_]+) \(\*\) \|", README, re.MULTILINE)
    assert sorted(marked) == sorted(name for name, variable in TABLE.items()
                                    if variable.reader is Reader.REQUIRED)

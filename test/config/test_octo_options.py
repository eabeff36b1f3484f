"""EXTRA_ARGS: octo's pack options in octo's syntax, with unknown options and stray values refused."""

import pytest

from octopus_pack.config.octo_options import parse_octo_options
from octopus_pack.errors import PipeError


def test_the_original_articles_example_works():
    options = parse_octo_options(["--description", "text containing spaces", "--verbose"])
    assert options.description == "text containing spaces"
    assert options.verbose is True


@pytest.mark.parametrize("args", [["--title", "My App"], ["--title=My App"], ["--title:My App"], ["--TITLE", "My App"],
                                  ["-title", "My App"], ["--Title=My App"]])
def test_every_octo_spelling_of_an_option_is_understood(args):
    assert parse_octo_options(args).title == "My App"


def test_repeatable_options_collect_in_order():
    options = parse_octo_options(["--author", "Ann", "--author=Bob", "--include", "bin/**", "--include=*.txt",
                                  "--exclude", "**/*.pdb"])
    assert options.authors == ["Ann", "Bob"]
    assert options.includes == ["bin/**", "*.txt"]
    assert options.excludes == ["**/*.pdb"]


@pytest.mark.parametrize(("args", "expected"), [
    (["--overwrite"], True), (["--overwrite=true"], True), (["--overwrite=false"], False),
    (["--overwrite:False"], False), ([], None),
])
def test_overwrite_means_what_it_says(args, expected):
    assert parse_octo_options(args).overwrite is expected


def test_values_may_look_like_options_when_they_follow_one():
    assert parse_octo_options(["--releaseNotes", "-fixed a bug"]).release_notes == "-fixed a bug"


def test_values_keep_equals_signs_and_colons():
    assert parse_octo_options(["--description=a=b:c"]).description == "a=b:c"


@pytest.mark.parametrize(("args", "message"), [
    (["--frobnicate"], r"unknown option '--frobnicate'\. Supported options: --author, "),
    (["stray"], r"value 'stray' that belongs to no option"),
    (["--verbose", "true"], r"value 'true' that belongs to no option"),
    (["--title"], r"ends with --title but no value"),
    (["--title", "a", "--title", "b"], r"--title more than once"),
    (["--overwrite=maybe"], r"--overwrite=true or --overwrite=false"),
    (["--version", "2.0"], r"set VERSION instead"),
    (["--basePath=src"], r"set SOURCE_PATH instead"),
])
def test_mistakes_are_refused_with_the_fix(args, message):
    with pytest.raises(PipeError, match=message):
        parse_octo_options(args)

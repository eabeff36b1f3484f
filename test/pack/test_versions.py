"""VERSION and ID rules: NuGet's loose grammar, kept verbatim, as octo did."""

import pytest

from octopus_pack.errors import PipeError
from octopus_pack.pack.versions import octopus_can_parse_id, prerelease_label, validate_version, validate_zip_id


@pytest.mark.parametrize("version", ["1", "1.0", "1.0.0", "1.0.0.0", "2016.02.01.09", "01.002", "1.0.0-beta.1",
                                     "1.0.0-beta.1+sha.abc", "1.0.0+build-5", "1.2.3-rc-1", "2147483647.0"])
def test_valid_versions_are_kept_exactly_as_written(version):
    assert validate_version(version) == version


def test_spaces_are_removed_as_octo_did():
    assert validate_version(" 1.0.0 ") == "1.0.0"


@pytest.mark.parametrize("version", ["", "  ", "v1.0", "1.0.0.0.0", "1..0", "1.0-", "1.0-beta..1", "1.0-01",
                                     "1.0+", "1.0+a+b", "1.0-beta_1", "2147483648.0", "1.0.0-b$", "١.٢"])
def test_invalid_versions_name_the_problem_and_give_an_example(version):
    with pytest.raises(PipeError, match=r"VERSION .*(empty|not a valid package version).*'1\.0\.0'"):
        validate_version(version)


def test_prerelease_label_ignores_build_metadata():
    assert prerelease_label("1.0.0-beta.1+sha") == "beta.1"
    assert prerelease_label("1.0.0+sha-1") == ""


@pytest.mark.parametrize("package_id", ["", " ", "a/b", "a\\b", "a..b", ".."])
def test_zip_ids_must_be_a_single_file_name(package_id):
    with pytest.raises(PipeError, match=r"^ID "):
        validate_zip_id(package_id)


def test_zip_ids_may_be_anything_else_octo_accepted():
    assert validate_zip_id("my package (1)") == "my package (1)"


@pytest.mark.parametrize(("package_id", "parsable"), [("MyCompany.MyApp", True), ("randomquotes-js", True),
                                                       ("Acme.2024", False), ("my package", False)])
def test_octopus_can_parse_only_some_ids_back_from_zip_file_names(package_id, parsable):
    assert octopus_can_parse_id(package_id) is parsable

"""Tests for the NuGet parts of a nupkg: nuspec, OPC parts, entry names and NuGet's validation rules."""

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from octopus_pack.errors import PipeError
from octopus_pack.pack.nuget import (
    NUSPEC_NAMESPACES,
    NuspecMetadata,
    build_nupkg_parts,
    dotnet_extension,
    is_nuspec,
    is_specific_target_framework,
    part_name,
    prerelease_label,
    validate_metadata_text,
    validate_package_id,
    validate_prerelease_length,
)

DEFAULT_DESCRIPTION = "A deployment package created from files on disk."
NS_2010_07 = "http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd"
NS_2011_08 = "http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd"
NS_2011_10 = "http://schemas.microsoft.com/packaging/2011/10/nuspec.xsd"
NS_2012_06 = "http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd"
NS_2013_05 = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"
OPC_CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
OPC_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def make_metadata(**changes) -> NuspecMetadata:
    """octo's defaults on Linux with no USERNAME: author '@' and the stock description."""
    return replace(
        NuspecMetadata(id="Acme.Web", version="1.0.0", authors=("@",), description=DEFAULT_DESCRIPTION), **changes
    )


def nuspec_text(metadata: NuspecMetadata, targets: tuple[str, ...] = ("app.dll",)) -> str:
    nuspec = build_nupkg_parts(metadata, targets).nuspec
    assert nuspec.startswith(b"\xef\xbb\xbf")
    return nuspec[3:].decode("utf-8")


def nuspec_root(metadata: NuspecMetadata, targets: tuple[str, ...] = ("app.dll",)) -> ET.Element:
    return ET.fromstring(nuspec_text(metadata, targets))


def namespace_of(root: ET.Element) -> str:
    return root.tag[1:].split("}", 1)[0]


def metadata_children(root: ET.Element) -> dict[str, str]:
    (metadata_element,) = list(root)
    return {child.tag.split("}", 1)[1]: child.text or "" for child in metadata_element}


def assert_one_line_error(error: pytest.ExceptionInfo[PipeError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and "\r" not in message
    for fragment in fragments:
        assert fragment in message


# --- the nuspec ---------------------------------------------------------------------------------------------


def test_nuspec_matches_the_spec_example_byte_for_byte():
    metadata = make_metadata(version="1.2.3-beta.1", release_notes="Fix & ship")

    parts = build_nupkg_parts(metadata, ["app.dll"])

    assert parts.nuspec_name == "Acme.Web.nuspec"
    assert parts.nuspec == (
        b"\xef\xbb\xbf"
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<package xmlns="http://schemas.microsoft.com/packaging/2011/10/nuspec.xsd">\n'
        b"  <metadata>\n"
        b"    <id>Acme.Web</id>\n"
        b"    <version>1.2.3-beta.1</version>\n"
        b"    <authors>@</authors>\n"
        b"    <owners>@</owners>\n"
        b"    <requireLicenseAcceptance>false</requireLicenseAcceptance>\n"
        b"    <description>A deployment package created from files on disk.</description>\n"
        b"    <releaseNotes>Fix &amp; ship</releaseNotes>\n"
        b"  </metadata>\n"
        b"</package>"
    )


@pytest.mark.parametrize(
    ("changes", "targets", "expected"),
    [
        pytest.param({}, ["app.dll"], NS_2010_07, id="default"),
        pytest.param({"release_notes": "Notes"}, ["app.dll"], NS_2011_08, id="release-notes"),
        pytest.param({"version": "1.0.0-beta"}, ["app.dll"], NS_2011_10, id="prerelease"),
        pytest.param({"version": "1.0.0-beta+sha.1"}, ["app.dll"], NS_2011_10, id="prerelease-and-metadata"),
        pytest.param({"version": "1.0.0+sha.abc"}, ["app.dll"], NS_2010_07, id="metadata-only"),
        pytest.param({"version": "1.0.0+build-7"}, ["app.dll"], NS_2010_07, id="hyphen-inside-metadata"),
        pytest.param({"version": "1.0-rc.1", "release_notes": "x"}, ["a"], NS_2011_10, id="prerelease-wins"),
        pytest.param({}, ["content/net45/site.css"], NS_2012_06, id="content-tfm"),
        pytest.param({}, ["Content/NET6.0/deep/er/file.txt"], NS_2012_06, id="content-tfm-any-case"),
        pytest.param({}, ["tools/netstandard2.0/tool.dll"], NS_2012_06, id="tools-tfm"),
        pytest.param({}, ["content/assets/site.css"], NS_2010_07, id="content-non-tfm-folder"),
        pytest.param({}, ["content/net45"], NS_2010_07, id="content-tfm-named-file"),
        pytest.param({}, ["lib/net45/_._"], NS_2012_06, id="lib-empty-framework-folder"),
        pytest.param({}, ["lib/whatever/_._"], NS_2012_06, id="lib-is-parsed-strictly"),
        pytest.param({}, ["lib/net45/app.dll"], NS_2010_07, id="lib-assembly"),
        pytest.param({}, ["lib/net45/sub/_._"], NS_2010_07, id="lib-placeholder-too-deep"),
        pytest.param({}, ["contentFiles/any/any/a.txt"], NS_2013_05, id="content-files"),
        pytest.param({}, ["content/web.config.install.xdt"], NS_2013_05, id="install-xdt"),
        pytest.param({}, ["content/a/web.config.UNINSTALL.XDT"], NS_2013_05, id="uninstall-xdt"),
        pytest.param({}, ["tools/web.config.install.xdt"], NS_2010_07, id="xdt-outside-content"),
        pytest.param({"version": "1.0.0-beta"}, ["a.txt", "content/net45/b"], NS_2012_06, id="files-beat-version"),
        pytest.param({"release_notes": "x"}, ["tools/net45/a", "contentFiles/b"], NS_2013_05, id="highest-wins"),
        pytest.param({}, ["app.dll", "content/net45/old.nuspec"], NS_2012_06, id="dropped-nuspec-counts"),
    ],
)
def test_nuspec_namespace_follows_octos_schema_rules(changes, targets, expected):
    assert namespace_of(nuspec_root(make_metadata(**changes), tuple(targets))) == expected


def test_title_goes_between_version_and_authors_and_is_trimmed():
    text = nuspec_text(make_metadata(title="  Acme Web Site \n"))

    assert "    <version>1.0.0</version>\n    <title>Acme Web Site</title>\n    <authors>@</authors>\n" in text


@pytest.mark.parametrize("blank", ["", "   ", "\t\r\n"])
def test_blank_title_and_release_notes_are_left_out(blank):
    root = nuspec_root(make_metadata(title=blank, release_notes=blank))

    assert list(metadata_children(root)) == [
        "id",
        "version",
        "authors",
        "owners",
        "requireLicenseAcceptance",
        "description",
    ]
    assert namespace_of(root) == NS_2010_07


def test_text_escapes_only_ampersand_and_angle_brackets():
    text = nuspec_text(make_metadata(description="a & b < c > d \" e ' f\tg ]]> h"))

    assert "<description>a &amp; b &lt; c &gt; d \" e ' f\tg ]]&gt; h</description>" in text


def test_every_special_character_survives_a_round_trip():
    tricky = "& < > \" ' \t ]]> &amp; ü 🐙"
    metadata = make_metadata(title=tricky + "!", description=tricky + "!", release_notes=tricky + "!")

    children = metadata_children(nuspec_root(metadata))

    assert children["title"] == children["description"] == children["releaseNotes"] == tricky + "!"


def test_line_breaks_in_values_become_lf():
    text = nuspec_text(make_metadata(release_notes="one\r\ntwo\rthree\nfour"))

    assert "<releaseNotes>one\ntwo\nthree\nfour</releaseNotes>" in text
    assert "\r" not in text


def test_values_are_trimmed_like_dotnet_string_trim():
    children = metadata_children(nuspec_root(make_metadata(description="\u3000\xa0 Described \t\n")))

    assert children["description"] == "Described"


def test_multiple_authors_are_joined_with_a_comma_in_the_nuspec():
    children = metadata_children(nuspec_root(make_metadata(authors=("Ann", "Bob Smith"))))

    assert children["authors"] == children["owners"] == "Ann,Bob Smith"


def test_nuspec_has_no_newline_after_the_root_element():
    assert nuspec_text(make_metadata()).endswith("</metadata>\n</package>")


def test_nuspec_version_is_written_verbatim():
    for version in ["1.0", "1.0.0.0", "2016.02.01.09", "1.0.0-beta.1+sha.abc"]:
        assert metadata_children(nuspec_root(make_metadata(version=version)))["version"] == version


@pytest.mark.parametrize(
    "metadata",
    [
        make_metadata(),
        make_metadata(version="2.0.0-rc.1", title="Title", release_notes="Notes", authors=("a", "b")),
    ],
)
def test_nuspec_obeys_nugets_schema_rules(metadata):
    root = nuspec_root(metadata, ("bin/app.dll", "README"))

    assert root.tag.endswith("}package")
    assert namespace_of(root) in NUSPEC_NAMESPACES.values()
    children = metadata_children(root)
    for required in ["id", "version", "authors", "description"]:
        assert children[required].strip(), required
    assert re.fullmatch(r"\w+([_.-]\w+)*", children["id"])
    assert len(children["id"]) <= 100
    assert children["requireLicenseAcceptance"] == "false"


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "package_id",
    ["Acme", "Acme.Web", "My_Package", "a-b.c_d", "_leading", "trailing_", "x__y", "Ünïcödé.Pkg", "e\u0301", "A" * 100],
)
def test_valid_package_ids_pass(package_id):
    validate_package_id(package_id)


@pytest.mark.parametrize(
    ("package_id", "hint"),
    [
        ("my package", "' ' is not allowed"),
        ("Acme/Web", "'/' is not allowed"),
        ("Acme+Web", "'+' is not allowed"),
        ("Acme\n", "'\\n' is not allowed"),
        ("𝐀cme", "is not allowed"),
        ("", "it is empty"),
        (".Acme", "must sit between"),
        ("Acme.", "must sit between"),
        ("Acme..Web", "must sit between"),
        ("Acme.-Web", "must sit between"),
        ("A" * 101, "at most 100"),
    ],
)
def test_invalid_package_ids_are_refused_with_a_hint(package_id, hint):
    with pytest.raises(PipeError) as error:
        validate_package_id(package_id)

    assert_one_line_error(error, "ID ", hint)


def test_package_id_check_is_fast_on_pathological_input():
    with pytest.raises(PipeError):
        validate_package_id("a_" * 49 + "!")


@pytest.mark.parametrize("value", ["plain", "tab\there", "lines\r\nand\rmore\n", "\x85\u2028 ok", "🐙 astral", ""])
def test_text_xml_can_hold_passes(value):
    validate_metadata_text("DESCRIPTION", value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("bell\x07", "control character U+0007 at character 5"),
        ("\x00", "U+0000"),
        ("\x1f", "U+001F"),
        ("\x0b", "U+000B"),
        ("not\ufffe", "U+FFFE"),
        ("\uffff", "U+FFFF"),
        ("\ud800 lone", "U+D800"),
        ("bad\udcff byte", "not valid UTF-8"),
    ],
)
def test_text_xml_cannot_hold_is_refused(value, fragment):
    with pytest.raises(PipeError) as error:
        validate_metadata_text("RELEASE_NOTES", value)

    assert_one_line_error(error, "RELEASE_NOTES", fragment)


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"title": "bad\x01"}, "TITLE"),
        ({"description": "bad\x01"}, "DESCRIPTION"),
        ({"release_notes": "bad\x01"}, "RELEASE_NOTES"),
        ({"authors": ("ok", "bad\x01")}, "AUTHORS"),
        ({"authors": ("",)}, "AUTHORS"),
        ({"description": " \n "}, "DESCRIPTION"),
        ({"id": "not valid"}, "ID"),
        ({"version": ""}, "VERSION"),
        ({"version": "1.0.0-" + "a" * 251}, "VERSION"),
    ],
)
def test_building_refuses_metadata_nuget_would_refuse(changes, variable):
    with pytest.raises(PipeError) as error:
        build_nupkg_parts(make_metadata(**changes), ["app.dll"])

    assert_one_line_error(error, variable)


@pytest.mark.parametrize(
    ("version", "label"),
    [
        ("1.0.0", ""),
        ("1.0.0-beta.1", "beta.1"),
        ("1.0.0-beta-2+sha.1", "beta-2"),
        ("1.0.0+build-1", ""),
        (" 1.0-rc ", "rc"),
    ],
)
def test_prerelease_label_is_between_the_first_dash_and_plus(version, label):
    assert prerelease_label(version) == label


def test_prerelease_label_may_have_250_characters_but_not_251():
    validate_prerelease_length("1.0.0-" + "a" * 250)
    validate_prerelease_length("1.0.0+" + "a" * 400)  # build metadata does not count

    with pytest.raises(PipeError) as error:
        validate_prerelease_length("1.0.0-" + "a.b" * 84)

    assert_one_line_error(error, "VERSION", "252 characters", "250")


# --- payload entry names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("my dir/a b(1).txt", "my%20dir/a%20b%281%29.txt"),
        ("user@host.txt", "user%40host.txt"),
        ("Test[squarebrackets].txt", "Test%5Bsquarebrackets%5D.txt"),
        ("NuGetPackagingTestæøå.txt", "NuGetPackagingTest%C3%A6%C3%B8%C3%A5.txt"),
        ("~tilde-dash_under.dot", "~tilde-dash_under.dot"),
        ("C++Adapter.dll", "C%2B%2BAdapter.dll"),
        ("100%.txt", "100%25.txt"),
        (
            "semi;colon,comma!bang'quote*star=eq&amp$dollar",
            "semi%3Bcolon%2Ccomma%21bang%27quote%2Astar%3Deq%26amp%24dollar",
        ),
        ("a/./b.txt", "a/b.txt"),
        ("./a.txt", "a.txt"),
        ("a/b/../c.txt", "a/c.txt"),
        ("../../a.txt", "a.txt"),
        ("win\\style\\path.txt", "win/style/path.txt"),
        ("...dots/..hidden", "...dots/..hidden"),
        ("plain/path/file.dll", "plain/path/file.dll"),
    ],
)
def test_part_names_are_percent_encoded_per_segment(target, expected):
    assert part_name(target) == expected


def test_part_name_refuses_a_name_that_is_not_utf8():
    with pytest.raises(PipeError) as error:
        part_name("bad\udcffname.txt")

    assert_one_line_error(error, "not valid UTF-8", "rename")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("Acme.nuspec", True),
        ("deep/dir/Other.NuSpec", True),
        (".nuspec", True),
        ("nuspec", False),
        ("a.nuspec.bak", False),
        ("a.nuspecs", False),
        ("nuspec/readme.txt", False),
    ],
)
def test_is_nuspec_matches_any_depth_and_case(target, expected):
    assert is_nuspec(target) is expected


# --- [Content_Types].xml ------------------------------------------------------------------------------------


def content_types(targets: list[str]) -> ET.Element:
    return ET.fromstring(build_nupkg_parts(make_metadata(), targets).content_types)


def defaults_of(root: ET.Element) -> list[str]:
    return [element.get("Extension") for element in root.iter(OPC_CONTENT_TYPES + "Default")]


def overrides_of(root: ET.Element) -> list[str]:
    return [element.get("PartName") for element in root.iter(OPC_CONTENT_TYPES + "Override")]


def test_content_types_match_octos_shape_byte_for_byte():
    parts = build_nupkg_parts(make_metadata(), ["bin/App.DLL", "web.config", "bin/other.dll", "LICENSE"])

    assert parts.content_types == (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\n'
        b'  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />\n'
        b'  <Default Extension="psmdcp" ContentType="application/vnd.openxmlformats-package.core-properties+xml" />\n'
        b'  <Default Extension="DLL" ContentType="application/octet" />\n'
        b'  <Default Extension="config" ContentType="application/octet" />\n'
        b'  <Default Extension="nuspec" ContentType="application/octet" />\n'
        b'  <Override PartName="/LICENSE" ContentType="application/octet" />\n'
        b"</Types>"
    )


def test_extensions_are_counted_once_ignoring_case_in_first_seen_order_and_spelling():
    root = content_types(["a.TXT", "b.js", "c.txt", "d.Txt", "e.JS", "f.css"])

    assert defaults_of(root) == ["rels", "psmdcp", "TXT", "js", "css", "nuspec"]
    assert {element.get("ContentType") for element in root.iter(OPC_CONTENT_TYPES + "Default")} >= {"application/octet"}


def test_dotfiles_have_an_extension_and_extensionless_files_get_an_override_named_like_their_entry():
    root = content_types([".gitignore", "bin/run", "my dir/READ ME", "trailing.", "v1.2/LICENSE", "bin/run", "ü"])

    assert defaults_of(root) == ["rels", "psmdcp", "gitignore", "nuspec"]
    assert overrides_of(root) == ["/bin/run", "/my%20dir/READ%20ME", "/trailing.", "/v1.2/LICENSE", "/%C3%BC"]
    assert all(
        element.get("ContentType") == "application/octet" for element in root.iter(OPC_CONTENT_TYPES + "Override")
    )


def test_extensions_are_escaped_like_the_entry_names_they_belong_to():
    parts = build_nupkg_parts(make_metadata(), ["lib/file.日本", "a.b c", "x.TXT"])

    assert defaults_of(ET.fromstring(parts.content_types)) == ["rels", "psmdcp", "%E6%97%A5%E6%9C%AC", "b%20c",
                                                                 "TXT", "nuspec"]
    assert parts.payload_names == ("lib/file.%E6%97%A5%E6%9C%AC", "a.b%20c", "x.TXT")


def test_a_dropped_nuspec_keeps_its_place_among_the_extensions():
    assert defaults_of(content_types(["Old.NuSpec", "app.dll"])) == ["rels", "psmdcp", "NuSpec", "dll"]
    assert defaults_of(content_types(["app.dll"])) == ["rels", "psmdcp", "dll", "nuspec"]


def test_payload_rels_files_get_a_second_default_exactly_as_octo_wrote():
    assert defaults_of(content_types(["x.rels"])) == ["rels", "psmdcp", "rels", "nuspec"]


def test_override_part_names_are_percent_encoded_whatever_characters_the_name_has():
    tricky = "a&b<c>\"d'e\tf\ng\x01h"
    parts = build_nupkg_parts(make_metadata(), [tricky])

    assert b'PartName="/a%26b%3Cc%3E%22d%27e%09f%0Ag%01h"' in parts.content_types
    assert overrides_of(ET.fromstring(parts.content_types)) == ["/" + parts.payload_names[0]]


@pytest.mark.parametrize(
    ("target", "extension"),
    [
        ("a.txt", "txt"),
        ("dir/archive.tar.gz", "gz"),
        (".gitignore", "gitignore"),
        ("file.", ""),
        ("LICENSE", ""),
        ("dir.d/LICENSE", ""),
        ("dir/.hidden.cfg", "cfg"),
    ],
)
def test_extensions_follow_dotnet_path_get_extension(target, extension):
    assert dotnet_extension(target) == extension


# --- _rels/.rels and the .psmdcp ------------------------------------------------------------------------------


def test_relationships_point_at_the_nuspec_and_the_core_properties():
    parts = build_nupkg_parts(make_metadata(), ["app.dll"])

    text = parts.rels.decode("utf-8")
    assert re.fullmatch(
        r'<\?xml version="1\.0" encoding="utf-8"\?>\n'
        r'<Relationships xmlns="http://schemas\.openxmlformats\.org/package/2006/relationships">\n'
        r'  <Relationship Type="http://schemas\.microsoft\.com/packaging/2010/07/manifest"'
        r' Target="/Acme\.Web\.nuspec" Id="R[0-9a-f]{16}" />\n'
        r'  <Relationship Type="http://schemas\.openxmlformats\.org/package/2006/relationships/metadata/'
        r'core-properties" Target="/package/services/metadata/core-properties/[0-9a-f]{32}\.psmdcp"'
        r' Id="R[0-9a-f]{16}" />\n'
        r"</Relationships>",
        text,
    )
    relationships = list(ET.fromstring(parts.rels).iter(OPC_RELATIONSHIPS + "Relationship"))
    assert [element.get("Target") for element in relationships] == [
        "/" + parts.nuspec_name,
        "/" + parts.psmdcp_name,
    ]
    assert len({element.get("Id") for element in relationships}) == 2
    assert re.fullmatch(r"package/services/metadata/core-properties/[0-9a-f]{32}\.psmdcp", parts.psmdcp_name)


def test_core_properties_match_octos_shape():
    metadata = make_metadata(version="1.2.3-beta.1", authors=("Ann", "Bob & Co"), description="Says <hi>")

    text = build_nupkg_parts(metadata, ["app.dll"]).psmdcp.decode("utf-8")

    assert text == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">\n'
        "  <dc:creator>Ann, Bob &amp; Co</dc:creator>\n"
        "  <dc:description>Says &lt;hi&gt;</dc:description>\n"
        "  <dc:identifier>Acme.Web</dc:identifier>\n"
        "  <version>1.2.3-beta.1</version>\n"
        "  <keywords></keywords>\n"
        "  <lastModifiedBy>octopus-pack</lastModifiedBy>\n"
        "</coreProperties>"
    )


def test_core_properties_carry_the_description_trimmed_like_the_nuspec():
    parts = build_nupkg_parts(make_metadata(description="  padded\r\n"), ["app.dll"])

    assert b"<dc:description>padded</dc:description>" in parts.psmdcp
    assert b"<description>padded</description>" in parts.nuspec


# --- every part together ------------------------------------------------------------------------------------------


def test_every_part_is_well_formed_xml_with_a_utf8_declaration():
    metadata = make_metadata(version="3.0.0-rc.1", title="T & <T>", release_notes='R\r\n"R"', authors=("A", "B"))
    parts = build_nupkg_parts(metadata, ["content/net45/a b.txt", "LICENSE", "x.NUSPEC", "[y].Txt"])

    assert parts.nuspec.startswith(b"\xef\xbb\xbf")
    for document in [parts.nuspec[3:], parts.rels, parts.content_types, parts.psmdcp]:
        assert document.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n')
        assert not document.startswith(b"\xef\xbb\xbf")
        ET.fromstring(document)


def test_the_same_inputs_give_the_same_bytes():
    metadata = make_metadata(version="1.0.0-beta", release_notes="notes")
    targets = ["bin/app.dll", "README"]

    assert build_nupkg_parts(metadata, targets) == build_nupkg_parts(metadata, list(targets))


def test_different_packages_get_different_generated_names():
    first = build_nupkg_parts(make_metadata(), ["app.dll"])
    other_id = build_nupkg_parts(make_metadata(id="Acme.Api"), ["app.dll"])
    other_files = build_nupkg_parts(make_metadata(), ["app.dll", "extra.txt"])

    assert len({first.psmdcp_name, other_id.psmdcp_name, other_files.psmdcp_name}) == 3
    assert first.rels != other_id.rels != other_files.rels


# --- target framework folders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "folder",
    [
        "net45",
        "net451",
        "net4.5.1",
        "net6.0",
        "net6.0-windows",
        "NET48",
        "netstandard2.0",
        "netcoreapp3.1",
        "sl4",
        "sl4-wp71",
        "win8",
        "wp8",
        "wpa81",
        "uap10.0",
        "native",
        "net",
        "monoandroid",
        "xamarinios10",
        ".NETFramework4.5",
        "portable-net45+win8",
        "portable45-net45+win8+wpa81",
        "dotnet5.4",
        "dnxcore50",
        "net45-client",
        "45",
        "4.0",
        "net%34%35",
    ],
)
def test_specific_target_framework_folders_are_recognised(folder):
    assert is_specific_target_framework(folder)


@pytest.mark.parametrize(
    "folder",
    [
        "any",
        "Agnostic",
        "unsupported",
        "assets",
        "images",
        "netfoo45",
        "net45_x",
        "net4.5.6.7.8",
        "net4.",
        "net45-",
        "net45-a_b",
        "portable",
        "portable-+",
        "46",
        "",
        ".NETFramework,Version=v4.5",
    ],
)
def test_other_folders_are_not_target_frameworks(folder):
    assert not is_specific_target_framework(folder)

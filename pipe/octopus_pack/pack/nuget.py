"""NuGet specifics of a .nupkg: the nuspec, the OPC parts, entry names and NuGet's validation rules."""

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from octopus_pack.errors import PipeError
from octopus_pack.metadata import PIPE_NAME
from octopus_pack.pack.versions import prerelease_label

log = logging.getLogger(__name__)

# The nuspec schema namespaces NuGet knows, by the schema version octo's PackageBuilder picks.
# Version 5 (2013/01) is only reached through features octo cannot produce, so it never appears here.
NUSPEC_NAMESPACES: dict[int, str] = {
    version: f"http://schemas.microsoft.com/packaging/{date}/nuspec.xsd"
    for version, date in enumerate(("2010/07", "2011/08", "2011/10", "2012/06", "2013/01", "2013/05"), start=1)
}
_DEFAULT_SCHEMA, _RELEASE_NOTES_SCHEMA, _PRERELEASE_SCHEMA, _FRAMEWORK_FOLDER_SCHEMA = 1, 2, 3, 4
_CONTENT_FILES_SCHEMA = 6

MAX_PACKAGE_ID_LENGTH = 100
MAX_PRERELEASE_LABEL_LENGTH = 250
PSMDCP_FOLDER = "package/services/metadata/core-properties"
# NuGet.Core (nuget.exe 2.x) skips every part whose root folder starts with one of these, case-insensitively.
_FOLDER_PREFIXES_NUGET_DROPS = ("package", "_rels")

_OPC = "http://schemas.openxmlformats.org/package/2006"
_MANIFEST_RELATIONSHIP = "http://schemas.microsoft.com/packaging/2010/07/manifest"
_CORE_PROPERTIES_RELATIONSHIP = f"{_OPC}/relationships/metadata/core-properties"
_PAYLOAD_CONTENT_TYPE = "application/octet"

# What .NET's String.Trim() removes (char.IsWhiteSpace). Python's str.strip() also removes U+001C..U+001F.
_DOTNET_WHITESPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                      "\u200a\u2028\u2029\u202f\u205f\u3000")
# .NET's regex \w: letters, non-spacing marks, decimal digits and connector punctuation.
_DOTNET_WORD_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Nd", "Pc"})


@dataclass(frozen=True)
class NuspecMetadata:
    """What octo pack writes into a nuspec; text values arrive as the user gave them."""

    id: str
    version: str  # the user's version string, verbatim (never normalised)
    authors: tuple[str, ...]  # non-empty, de-duplicated by the caller, order kept
    description: str
    title: str | None = None
    release_notes: str | None = None

    def __post_init__(self) -> None:
        """NuGet's rules (Manifest.Validate), checked once, when the metadata is made: nothing later checks again."""
        validate_package_id(self.id)
        validate_metadata_text("VERSION", self.version)
        if not self.version.strip():
            raise PipeError("VERSION is empty: set it to a version like 1.0.0, or leave it unset for the default.")
        validate_prerelease_length(self.version)
        validate_metadata_text("AUTHORS", ",".join(self.authors))
        if not any(self.authors):
            raise PipeError("AUTHORS is empty: a nupkg needs at least one author; set AUTHORS or leave it unset.")
        for name, value in (("TITLE", self.title), ("DESCRIPTION", self.description),
                            ("RELEASE_NOTES", self.release_notes)):
            if value is not None:
                validate_metadata_text(name, value)
        if not _dotnet_trim(self.description):
            raise PipeError("DESCRIPTION is empty: a nupkg needs a description; set DESCRIPTION or leave it unset.")


@dataclass(frozen=True)
class NupkgParts:
    """The generated entries of a .nupkg; the zip writer places them around the payload in octo's order."""

    rels: bytes  # _rels/.rels
    nuspec_name: str  # f"{id}.nuspec" (not escaped)
    nuspec: bytes  # with UTF-8 BOM
    content_types: bytes  # [Content_Types].xml
    psmdcp_name: str  # "package/services/metadata/core-properties/<32 hex>.psmdcp"
    psmdcp: bytes
    payload_names: tuple[str, ...] = ()  # part_name() of each payload target, in order, .nuspec files left out


def validate_package_id(package_id: str) -> None:
    """NuGet's package ID rules (at most 100 characters, `\\w+([_.-]\\w+)*` with .NET's `\\w`, which never matches
    a character outside the BMP: .NET sees two surrogates), so pushes and installs work."""
    if len(package_id) > MAX_PACKAGE_ID_LENGTH:
        raise PipeError(f"ID {package_id!r} is {len(package_id)} characters long, but a NuGet package ID may have at "
                        f"most {MAX_PACKAGE_ID_LENGTH}: shorten it.")
    bad_characters = [char for char in package_id if char not in ".-" and (
        ord(char) > 0xFFFF or unicodedata.category(char) not in _DOTNET_WORD_CATEGORIES)]
    if not package_id or bad_characters:
        shown = f": {bad_characters[0]!r} is not allowed" if bad_characters else " (it is empty)"
        raise PipeError(f"ID {package_id!r} is not a valid NuGet package ID{shown}; use letters, digits, '.', '-' and "
                        "'_' only, like 'MyCompany.MyApp'.")
    # '_' is a word character, so only '.' and '-' separate runs of word characters.
    if "" in package_id.replace("-", ".").split("."):
        raise PipeError(f"ID {package_id!r} is not a valid NuGet package ID: '.' and '-' must sit between letters or "
                        "digits (not at the start or end, and never two in a row), like 'MyCompany.MyApp'.")


def validate_metadata_text(name: str, value: str) -> None:
    """Refuse text XML 1.0 cannot hold, which .NET's XmlWriter would also refuse; `name` is the variable."""
    for position, char in enumerate(value, start=1):
        code = ord(char)
        if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000:
            continue
        if 0xDC80 <= code <= 0xDCFF:
            raise PipeError(f"{name} contains bytes that are not valid UTF-8 (first at character {position}): "
                            "provide the text as UTF-8.")
        kind = "the control character" if unicodedata.category(char) == "Cc" else "the character"
        raise PipeError(f"{name} contains {kind} U+{code:04X} at character {position}, which XML cannot hold: "
                        "remove it.")


def validate_prerelease_length(version: str) -> None:
    """NuGet refuses to pack a version whose pre-release label (after '-', before '+') exceeds 250 characters."""
    label = prerelease_label(version)
    if len(label) > MAX_PRERELEASE_LABEL_LENGTH:
        raise PipeError(f"VERSION has a pre-release label of {len(label)} characters, but a NuGet package allows at "
                        f"most {MAX_PRERELEASE_LABEL_LENGTH}: shorten the part after '-'.")


def is_nuspec(target: str) -> bool:
    """octo silently leaves out payload files whose path ends in .nuspec (any case), at any depth."""
    return target[-7:].lower() == ".nuspec"


def part_name(target: str) -> str:
    """The zip entry name NuGet gives a payload file: each segment (split on '/' and '\\', as octo's PackageBuilder
    does) percent-encoded as a URI would be, '.' and '..' collapsed; Calamari and NuGet unescape on extraction.
    """
    if _UNRESERVED_PATH.fullmatch(target) and "/./" not in f"/{target}/" and "/../" not in f"/{target}/":
        return target  # the common case: nothing to escape or collapse
    segments = target.replace("\\", "/").split("/")
    resolved: list[str] = []
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and resolved:
                resolved.pop()
            if is_last:
                resolved.append("")
            continue
        if not _UNRESERVED.fullmatch(segment):  # most names need no escaping: skip quote()'s per-character work
            try:
                segment = quote(segment, safe="", encoding="utf-8", errors="strict")
            except UnicodeEncodeError:
                raise PipeError(f"The file {target!r} has a name that is not valid UTF-8, so it cannot be named "
                                "inside a nupkg: rename it.") from None
        resolved.append(segment)
    return "/".join(resolved).lstrip("/")


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")
_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9._~/-]*")


# Framework identifiers NuGet 3.x resolves in a folder name, lower-cased: short names, full names, synonyms.
_FRAMEWORK_IDENTIFIER_LIST = """
    netcoreapp netstandardapp netstandard dotnet net netmf sl portable wp wpa win aspnet aspnetcore native
    monoandroid monotouch monomac xamarinios xamarinmac xamarinpsthree xamarinpsfour xamarinpsvita
    xamarinwatchos xamarintvos xamarinxboxthreesixty xamarinxboxone dnx dnxcore netcore winrt uap tizen
    .netcoreapp .netstandardapp .netstandard .netplatform .netframework .netmicroframework silverlight
    .netportable windowsphone windowsphoneapp windows asp.net asp.netcore xamarin.ios xamarin.mac
    xamarin.playstationvita xamarin.watchos xamarin.tvos xamarin.xboxone .netcore
    netframework .net netportable xamarin.playstationthree xamarinplaystationthree xamarin.playstationfour
    xamarinplaystationfour xamarinplaystationvita
"""
_FRAMEWORK_IDENTIFIERS = frozenset(_FRAMEWORK_IDENTIFIER_LIST.split())
_PORTABLE_IDENTIFIERS = frozenset({"portable", ".netportable", "netportable"})
_NON_SPECIFIC_FRAMEWORKS = frozenset({"any", "agnostic", "unsupported"})
_DEPRECATED_FRAMEWORK_FOLDERS = frozenset({"45", "4.5", "40", "4.0", "4", "35", "3.5", "20", "2", "2.0"})
_FRAMEWORK_FOLDER = re.compile(r"([A-Za-z.]*)([0-9.]*)(.*)", re.DOTALL)  # identifier, version, '-profile'
_PROFILE = re.compile(r"-[A-Za-z0-9.+-]+")
_INT32_MAX = 2**31 - 1


def is_specific_target_framework(folder: str) -> bool:
    """Whether NuGet 3.x (octo's fork, NuGetFramework.ParseFolder) reads a folder name as a specific framework.

    A known identifier of ASCII letters and dots, a version of digits and dots, an optional '-profile'
    (net45, net6.0-windows, portable-net45+win8, bare 'net', old numeric folders like 45). Newer names
    ('netnano') are not known, and portable profiles are not checked against NuGet's profile table.
    """
    name = unquote(folder) if "%" in folder else folder
    if name.lower() in _NON_SPECIFIC_FRAMEWORKS:
        return False
    identifier, version, rest = _FRAMEWORK_FOLDER.fullmatch(name).groups()  # type: ignore[union-attr]
    if not identifier:
        return name in _DEPRECATED_FRAMEWORK_FOLDERS
    if (rest and not _PROFILE.fullmatch(rest)) or identifier.lower() not in _FRAMEWORK_IDENTIFIERS:
        return False
    # '45' style versions are always read (first four digits); dotted ones must parse as System.Version.
    parts = version.split(".")
    if "." in version and not (2 <= len(parts) <= 4 and all(part.isdigit() and int(part) <= _INT32_MAX
                                                             for part in parts)):
        return False
    return identifier.lower() not in _PORTABLE_IDENTIFIERS or any(rest[1:].split("+"))


def _schema_version(metadata: NuspecMetadata, release_notes: str | None, targets: Iterable[str]) -> int:
    """The nuspec schema octo picks: the highest one any feature of the metadata or the file paths needs."""
    version = _DEFAULT_SCHEMA
    if release_notes:
        version = _RELEASE_NOTES_SCHEMA
    if prerelease_label(metadata.version):
        version = _PRERELEASE_SCHEMA
    for target in targets:
        version = max(version, _schema_version_for_path(target))
    return version


def _schema_version_for_path(target: str) -> int:
    lowered = target.lower()
    if lowered.startswith("contentfiles/") or (lowered.startswith("content/")
                                               and lowered.endswith((".install.xdt", ".uninstall.xdt"))):
        return _CONTENT_FILES_SCHEMA
    for folder in ("content/", "tools/"):
        if lowered.startswith(folder) and "/" in target[len(folder) :]:
            framework_folder = target[len(folder) :].split("/", 1)[0]
            if is_specific_target_framework(framework_folder):
                return _FRAMEWORK_FOLDER_SCHEMA
    if lowered.startswith("lib/"):
        # lib/ folders are parsed strictly: any sub-folder counts as a framework, so only the shape matters.
        framework_folder, _, rest = target[len("lib/") :].partition("/")
        if framework_folder and rest == "_._":
            return _FRAMEWORK_FOLDER_SCHEMA
    return _DEFAULT_SCHEMA


def _dotnet_trim(value: str) -> str:
    return value.strip(_DOTNET_WHITESPACE)


def _escape_attribute(value: str) -> str:
    """Attribute values as .NET's XmlWriter writes them: & < > \" escaped, tab and line breaks as references."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return value.replace("\t", "&#x9;").replace("\r", "&#xD;").replace("\n", "&#xA;")


def _text_element(indent: str, tag: str, value: str) -> str:
    """Element text as .NET's XmlWriter writes it: CR LF and lone CR become LF, & < > escaped, and an empty
    string as a start/end pair, never as <tag />."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return f"{indent}<{tag}>{value.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</{tag}>"


def _empty_element(indent: str, tag: str, attributes: Sequence[tuple[str, str]]) -> str:
    rendered = " ".join(f'{name}="{_escape_attribute(value)}"' for name, value in attributes)
    return f"{indent}<{tag} {rendered} />"


def _document(lines: Iterable[str]) -> str:
    """XDocument.Save output on Linux: declaration, LF between lines, and no newline after the root."""
    return "\n".join(['<?xml version="1.0" encoding="utf-8"?>', *lines])


def build_nupkg_parts(metadata: NuspecMetadata, payload_targets: Sequence[str]) -> NupkgParts:
    """Every generated nupkg entry as octo pack shapes them, but deterministically.

    payload_targets are the unescaped target paths in package order, including the .nuspec files octo drops
    from the payload: octo still counts those for the content types and the schema. octo's random GUIDs (the
    relationship ids, the .psmdcp name) come from a SHA-256 of the nuspec and entry names instead.
    """
    # Trimmed as .NET trims them; a blank title or notes are absent, as in octo.
    title = _dotnet_trim(metadata.title or "") or None
    release_notes = _dotnet_trim(metadata.release_notes or "") or None
    description = _dotnet_trim(metadata.description)

    namespace = NUSPEC_NAMESPACES[_schema_version(metadata, release_notes, payload_targets)]
    nuspec_name = f"{metadata.id}.nuspec"
    nuspec = b"\xef\xbb\xbf" + _nuspec_document(metadata, namespace, title, description, release_notes).encode()

    payload = [target for target in payload_targets if not is_nuspec(target)]
    entry_names = [part_name(target) for target in payload]
    seed = hashlib.sha256(nuspec + b"\0" + "\0".join(entry_names).encode()).digest()
    psmdcp_name = f"{PSMDCP_FOLDER}/{_derived_hex(seed, 'core-properties-part', 32)}.psmdcp"

    relationships = [(_MANIFEST_RELATIONSHIP, f"/{nuspec_name}", "R" + _derived_hex(seed, "manifest-relationship", 16)),
                     (_CORE_PROPERTIES_RELATIONSHIP, f"/{psmdcp_name}",
                      "R" + _derived_hex(seed, "core-properties-relationship", 16))]
    return NupkgParts(
        rels=_relationships_document(relationships).encode(),
        nuspec_name=nuspec_name,
        nuspec=nuspec,
        content_types=_content_types_document(payload_targets, entry_names).encode(),
        psmdcp_name=psmdcp_name,
        psmdcp=_core_properties_document(metadata, description).encode(),
        payload_names=tuple(entry_names),
    )


def _nuspec_document(
    metadata: NuspecMetadata, namespace: str, title: str | None, description: str, release_notes: str | None
) -> str:
    authors = ",".join(metadata.authors)
    elements = [("id", metadata.id), ("version", metadata.version), ("title", title), ("authors", authors),
                ("owners", authors), ("requireLicenseAcceptance", "false"), ("description", description),
                ("releaseNotes", release_notes)]
    return _document([
        f'<package xmlns="{_escape_attribute(namespace)}">',
        "  <metadata>",
        *(_text_element("    ", tag, value) for tag, value in elements if value is not None),
        "  </metadata>",
        "</package>",
    ])


def _relationships_document(relationships: Sequence[tuple[str, str, str]]) -> str:
    return _document([
        f'<Relationships xmlns="{_OPC}/relationships">',
        *(_empty_element("  ", "Relationship", [("Type", kind), ("Target", target), ("Id", rel_id)])
          for kind, target, rel_id in relationships),
        "</Relationships>",
    ])


def _content_types_document(payload_targets: Sequence[str], entry_names: Sequence[str]) -> str:
    """[Content_Types].xml in octo's shape (one Default per extension, first spelling kept, then 'nuspec', then an
    Override per extension-less file), but percent-encoded like the entry names: OPC readers (System.IO.Packaging,
    NuGet.Core) look content types up by the escaped name, and silently dropped octo's unescaped 'a+b' or '日本'.
    """
    escaped = dict(zip((t for t in payload_targets if not is_nuspec(t)), entry_names, strict=True))
    extensions: dict[str, str] = {}
    extensionless_parts: dict[str, None] = {}
    for target in payload_targets:
        name = escaped.get(target) or part_name(target)  # a dropped .nuspec still counts its extension
        extension = dotnet_extension(name)
        if extension:
            extensions.setdefault(_ordinal_ignore_case_key(extension), extension)
        else:
            extensionless_parts["/" + name] = None
    extensions.setdefault(_ordinal_ignore_case_key("nuspec"), "nuspec")

    defaults = [
        ("rels", "application/vnd.openxmlformats-package.relationships+xml"),
        ("psmdcp", "application/vnd.openxmlformats-package.core-properties+xml"),
        *((extension, _PAYLOAD_CONTENT_TYPE) for extension in extensions.values()),
    ]
    return _document([
        f'<Types xmlns="{_OPC}/content-types">',
        *(_empty_element("  ", "Default", [("Extension", extension), ("ContentType", content_type)])
          for extension, content_type in defaults),
        *(_empty_element("  ", "Override", [("PartName", part), ("ContentType", _PAYLOAD_CONTENT_TYPE)])
          for part in extensionless_parts),
        "</Types>",
    ])


# What readers leave out of a nupkg (unescaped entry name, case-insensitively). Refused: what Octopus or every NuGet
# client leaves out; warned: what only a NuGet client does. Octopus: OctopusDeploy/Calamari
# source/Calamari.Common/Features/Packages/NuGet/NupkgExtractor.cs; packages.config installs: NuGet/NuGet.Client
# src/NuGet.Core/NuGet.Packaging/PackageExtraction/PackageHelper.cs (all of 'package/'); PackageReference restores:
# src/NuGet.Core/NuGet.Packaging/PackageExtractor.cs. A root '.signature.p7s' (case-sensitive: NuGet's
# SignedPackageArchiveUtility) makes NuGet refuse the package as tampered with (NU3005); test_nupkg_readers.py proves
# each rule with nuget.exe 5.8 and 2.8.7.


def dropped_by_readers(entry_name: str) -> str | None:
    """Why Octopus, or every NuGet client, would leave this payload entry out (or refuse the package); else None."""
    path = unquote(entry_name)
    lower = path.lower()
    if lower.startswith("[content_types].xml"):
        return ("NuGet and Octopus leave out every name at the package root that starts with '[Content_Types].xml', "
                "the name of the nupkg's own list of content types")
    if lower.endswith(".nupkg.sha512"):
        return "NuGet and Octopus leave out every file whose name ends in '.nupkg.sha512', the name NuGet's hashes have"
    if path == ".signature.p7s":
        return ("NuGet takes a '.signature.p7s' at the package root for a package signature and refuses the package "
                "as tampered with (NU3005)")
    if lower.startswith("_rels/"):
        return ("NuGet and Octopus leave out everything in the root folder '_rels', where a nupkg keeps its "
                "relationships")
    if lower.startswith("package/services/metadata/"):
        return ("NuGet and Octopus leave out everything in 'package/services/metadata', where a nupkg keeps its "
                "properties")
    return None


def warn_about_what_nuget_clients_drop(entry_names: Iterable[str]) -> None:
    """A warning for what a NuGet client (nuget.exe, dotnet) leaves out but Octopus deploys; DEBUG for what only
    NuGet.Core drops (root folders merely starting with 'package' or '_rels', e.g. 'packages/')."""
    dropped: dict[str, None] = {}
    old_only: dict[str, None] = {}
    for name in entry_names:
        path = unquote(name)
        lower = path.lower()
        file_name = lower.rpartition("/")[2]
        folder, separator, _ = path.partition("/")
        if lower.startswith("package/"):
            dropped.setdefault(f"'{folder}/' (packages.config installs leave out the root folder 'package')", None)
        elif file_name in (".rels", "[content_types].xml") or file_name.endswith(".psmdcp") or (
                not separator and file_name.endswith(".nupkg")):
            dropped.setdefault(f"'{path}' (PackageReference restores leave out files named '.rels' or "
                               "'[Content_Types].xml', '.psmdcp' files and root '.nupkg' files)", None)
        elif separator and folder.lower().startswith(_FOLDER_PREFIXES_NUGET_DROPS):
            old_only.setdefault(folder, None)
    for where in dropped:
        log.warning(f"NuGet clients (nuget.exe, dotnet) leave out {where} when they read a nupkg; Octopus deploys "
                    "it. If a NuGet client must read it, use FORMAT: 'zip' or rename it.")
    for folder in old_only:
        log.debug(f"Only NuGet.Core (nuget.exe 2.x) leaves out the files in '{folder}/' of a nupkg; today's NuGet "
                  "and Octopus read them.")


def _core_properties_document(metadata: NuspecMetadata, description: str) -> str:
    """The .psmdcp core properties, with the trimmed description (octo left this copy untrimmed).

    keywords is always empty (octo cannot set tags); lastModifiedBy names this tool instead of octo's NuGet.
    """
    return _document([
        '<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xmlns="{_OPC}/metadata/core-properties">',
        *(_text_element("  ", tag, value) for tag, value in (
            ("dc:creator", ", ".join(metadata.authors)), ("dc:description", description),
            ("dc:identifier", metadata.id), ("version", metadata.version), ("keywords", ""),
            ("lastModifiedBy", PIPE_NAME))),
        "</coreProperties>",
    ])


def dotnet_extension(target: str) -> str:
    """The extension as .NET's Path.GetExtension sees it on Linux, without the dot: '.gitignore' -> 'gitignore'."""
    file_name = target.rsplit("/", 1)[-1]
    return file_name.rpartition(".")[2] if "." in file_name else ""


def _ordinal_ignore_case_key(text: str) -> str:
    """Per-character simple upper-casing, close to .NET's OrdinalIgnoreCase comparer."""
    if text.isascii():  # nearly every extension: str.upper is exact there and far cheaper
        return text.upper()
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in text)


def _derived_hex(seed: bytes, label: str, length: int) -> str:
    """Lower-case hex that stands in for one of octo's random GUIDs, fixed by the package's content."""
    return hashlib.sha256(seed + label.encode()).hexdigest()[:length]

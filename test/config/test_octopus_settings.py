"""The Octopus variables, plain strings as the environment holds them, become OctopusSettings (or a clear PipeError)."""

import logging
from pathlib import Path

import pytest
import yaml

from octopus_pack.config.notices import Notice
from octopus_pack.config.octopus import octopus_settings_from
from octopus_pack.errors import PipeError
from octopus_pack.masking import mask
from octopus_pack.metadata import PIPE_YML
from octopus_pack.octopus import OverwriteMode
from octopus_pack.octopus.settings import ApiKey

SERVER = "https://octopus.example.com"
KEY = "API-ABCDEF0123456789"


def settings_from(env: dict[str, str]):
    """What the settings layer does with the environment's strings."""
    return octopus_settings_from(env)


def test_no_server_means_nothing_to_push():
    assert settings_from({}) is None


def test_a_key_without_a_server_is_a_warning_and_ignored():
    found: list[Notice] = []
    assert octopus_settings_from({"OCTOPUS_APIKEY": KEY}, found) is None
    assert found == [Notice(logging.WARNING, "OCTOPUS_APIKEY is set but OCTOPUS_SERVER is not, so nothing is pushed "
                                             "to Octopus.")]


def test_defaults_follow_octo():
    settings = settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY})
    assert settings.server == SERVER
    assert settings.credential.reveal() == KEY
    assert settings.space is None
    assert settings.overwrite_mode is OverwriteMode.FAIL_IF_EXISTS
    assert settings.push_package and settings.push_build_information and settings.delta_compression
    assert settings.timeout == 600
    assert settings.ca_bundle is None and not settings.insecure_skip_tls_verify
    assert settings.commit_limit == 100


def test_every_variable_is_read():
    settings = settings_from({
        "OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "OCTOPUS_SPACE": "Team Space",
        "OVERWRITE_MODE": "ignore", "PUSH_PACKAGE": "false", "PUSH_BUILD_INFORMATION": "True",
        "DELTA_COMPRESSION": "no", "OCTOPUS_TIMEOUT": "30", "OCTOPUS_INSECURE_SKIP_TLS_VERIFY": "true",
        "BUILD_INFORMATION_COMMIT_LIMIT": "25",
    })  # fmt: skip
    assert settings.space == "Team Space"
    assert settings.overwrite_mode is OverwriteMode.IGNORE_IF_EXISTS
    assert not settings.push_package and settings.push_build_information and not settings.delta_compression
    assert settings.timeout == 30
    assert settings.insecure_skip_tls_verify
    assert settings.commit_limit == 25


@pytest.mark.parametrize(
    ("url_name", "key_name"),
    [("OCTOPUS_URL", "OCTOPUS_API_KEY"), ("OCTOPUS_SERVER", "OCTOPUS_API_KEY"), ("OCTOPUS_URL", "OCTOPUS_APIKEY")],
)
def test_the_go_cli_names_are_accepted(url_name, key_name):
    settings = settings_from({url_name: SERVER, key_name: KEY})
    assert settings.server == SERVER
    assert settings.credential.reveal() == KEY


def test_a_name_and_its_alias_must_agree():
    with pytest.raises(PipeError, match="OCTOPUS_SERVER and OCTOPUS_URL"):
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_URL": "https://other.example.com", "OCTOPUS_APIKEY": KEY})
    assert settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_URL": SERVER, "OCTOPUS_APIKEY": KEY}) is not None


def test_a_server_without_a_credential_names_all_three_ways():
    with pytest.raises(PipeError, match=r"no credential is: set OCTOPUS_APIKEY .*, OCTOPUS_ACCESS_TOKEN .* or "
                                        "OCTOPUS_SERVICE_ACCOUNT_ID"):
        settings_from({"OCTOPUS_SERVER": SERVER})


@pytest.mark.parametrize("bad_key", ["API-lowercase123", "ABCDEF0123456789", "'API-ABCDEF0123'", "API-ABC DEF",
                                     "Bearer API-ABC"])
def test_a_malformed_key_is_refused_without_echoing_it(bad_key):
    with pytest.raises(PipeError) as error:
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": bad_key})
    assert "does not look like an Octopus API key" in str(error.value)
    assert bad_key not in str(error.value)
    assert bad_key.strip("'") not in str(error.value)


def test_surrounding_whitespace_in_the_key_is_forgiven():
    assert settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": f" {KEY}\n"}).credential.reveal() == KEY


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("FailIfExists", OverwriteMode.FAIL_IF_EXISTS), ("failifexists", OverwriteMode.FAIL_IF_EXISTS),
        ("fail", OverwriteMode.FAIL_IF_EXISTS), ("IgnoreIfExists", OverwriteMode.IGNORE_IF_EXISTS),
        ("IGNORE", OverwriteMode.IGNORE_IF_EXISTS), ("OverwriteExisting", OverwriteMode.OVERWRITE_EXISTING),
        ("overwrite", OverwriteMode.OVERWRITE_EXISTING), ("replace", OverwriteMode.OVERWRITE_EXISTING),
    ],
)  # fmt: skip
def test_overwrite_mode_spellings(text, mode):
    settings = settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "OVERWRITE_MODE": text})
    assert settings.overwrite_mode is mode


def test_an_unknown_overwrite_mode_lists_the_valid_ones():
    with pytest.raises(PipeError, match="FailIfExists, IgnoreIfExists or OverwriteExisting"):
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "OVERWRITE_MODE": "skip"})


@pytest.mark.parametrize(("name", "value"), [("PUSH_PACKAGE", "maybe"), ("OCTOPUS_TIMEOUT", "0"),
                                             ("OCTOPUS_TIMEOUT", "soon"), ("BUILD_INFORMATION_COMMIT_LIMIT", "0")])
def test_values_of_the_wrong_type_are_one_line_errors(name, value):
    with pytest.raises(PipeError, match=f"^{name} is '{value}': use ") as raised:
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, name: value})
    assert "\n" not in str(raised.value)


def test_nothing_to_push_when_both_pushes_are_off_is_a_warning():
    env = {"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "PUSH_PACKAGE": "false", "PUSH_BUILD_INFORMATION": "false"}
    found: list[Notice] = []
    assert octopus_settings_from(env, found) is None
    assert found == [Notice(logging.WARNING, "PUSH_PACKAGE and PUSH_BUILD_INFORMATION are both false, so nothing is "
                                             "pushed to Octopus.")]


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("https://octopus.example.com/", "https://octopus.example.com"),
        ("HTTPS://octopus.example.com", "https://octopus.example.com"),
        ("https://octopus.example.com/app#/Spaces-1/projects", "https://octopus.example.com"),
        ("https://octopus.example.com/api/", "https://octopus.example.com"),
        ("https://example.com/octopus/", "https://example.com/octopus"),
        ("http://127.0.0.1:8065/octopus/app", "http://127.0.0.1:8065/octopus"),
    ],
)
def test_server_addresses_are_normalised(given, base):
    assert settings_from({"OCTOPUS_SERVER": given, "OCTOPUS_APIKEY": KEY}).server == base


@pytest.mark.parametrize("bad", ["octopus.example.com", "ftp://octopus.example.com", "https://"])
def test_a_server_that_is_not_an_http_url_is_refused(bad):
    with pytest.raises(PipeError, match="is not an http"):
        settings_from({"OCTOPUS_SERVER": bad, "OCTOPUS_APIKEY": KEY})


def test_ca_bundle_must_be_a_readable_pem_file(tmp_path: Path, ca_bundle: Path):
    env = {"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY}
    assert settings_from(env | {"OCTOPUS_CA_BUNDLE": str(ca_bundle)}).ca_bundle == ca_bundle
    with pytest.raises(PipeError, match=r"OCTOPUS_CA_BUNDLE .* is not a file"):
        settings_from(env | {"OCTOPUS_CA_BUNDLE": str(tmp_path / "missing.pem")})


@pytest.mark.parametrize("content", [b"-----BEGIN CERTIFICATE-----\n", b"\x30\x82\x01\x0a DER bytes", b""])
def test_a_ca_bundle_that_is_not_pem_is_named(tmp_path: Path, content: bytes):
    bundle = tmp_path / "corporate-ca.cer"
    bundle.write_bytes(content)
    with pytest.raises(PipeError) as error:
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "OCTOPUS_CA_BUNDLE": str(bundle)})
    message = str(error.value)
    assert message.startswith("OCTOPUS_CA_BUNDLE '") and "corporate-ca.cer' could not be read as PEM CA " \
        "certificates (" in message
    assert "-----BEGIN CERTIFICATE-----" in message and "\n" not in message


def test_ca_bundle_and_skipping_verification_contradict(ca_bundle: Path):
    with pytest.raises(PipeError, match="both set"):
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "OCTOPUS_CA_BUNDLE": str(ca_bundle),
                       "OCTOPUS_INSECURE_SKIP_TLS_VERIFY": "true"})


def test_credentials_in_the_server_url_are_taken_out_and_masked():
    found: list[Notice] = []
    settings = octopus_settings_from({"OCTOPUS_SERVER": "https://deployer:s3cret-Pa%40ss@octopus.example.com/octopus/app",
                                      "OCTOPUS_APIKEY": KEY}, found)
    assert settings is not None and settings.server == "https://octopus.example.com/octopus"
    assert found == [Notice(logging.WARNING, "OCTOPUS_SERVER contains a user name or password: they were removed, "
                            "because Octopus does not use credentials in its URL. Set OCTOPUS_SERVER to "
                            "https://octopus.example.com/octopus and sign in with OCTOPUS_APIKEY, OCTOPUS_ACCESS_TOKEN "
                            "or OCTOPUS_SERVICE_ACCOUNT_ID.")]
    assert mask("deployer s3cret-Pa%40ss s3cret-Pa@ss") == "<hidden> <hidden> <hidden>"


def test_a_bad_server_url_with_credentials_does_not_quote_them():
    with pytest.raises(PipeError) as error:
        settings_from({"OCTOPUS_SERVER": "ftp://someone:hunter2-secret@octopus.example.com", "OCTOPUS_APIKEY": KEY})
    assert "hunter2-secret" not in str(error.value) and "someone" not in str(error.value)


def test_the_key_never_shows_in_reprs():
    settings = settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "OCTOPUS_SPACE": "Spaces-2"})
    for text in (repr(settings), str(settings), settings.describe(), f"{settings.credential}", repr(vars(settings))):
        assert KEY not in text
    assert "<hidden>" in settings.describe()
    assert "Spaces-2" in settings.describe()
    assert ApiKey(KEY) == settings.credential


def test_string_flags_use_the_one_vocabulary():
    env = {"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "DELTA_COMPRESSION": "OFF", "PUSH_PACKAGE": "1"}
    settings = octopus_settings_from(env)
    assert not settings.delta_compression and settings.push_package


def test_a_normalised_address_is_noted_without_the_rest():
    found: list[Notice] = []
    octopus_settings_from({"OCTOPUS_SERVER": f"{SERVER}/app?apikey={KEY}", "OCTOPUS_APIKEY": KEY}, found)
    assert found == [Notice(logging.INFO, f"Using {SERVER} as the Octopus server address (the rest of OCTOPUS_SERVER "
                                          "is not needed).")]


@pytest.mark.parametrize("unexpanded", ["$OCTOPUS_SERVER", "${OCTOPUS_SERVER}", "  "])
def test_an_unexpanded_pipe_yml_default_counts_as_not_set(unexpanded):
    """pipe.yml defaults credentials to $NAME: a repository without that variable has the text itself."""
    assert octopus_settings_from({"OCTOPUS_SERVER": unexpanded, "OCTOPUS_APIKEY": "$OCTOPUS_APIKEY"}) is None


def test_pipe_yml_leaves_the_server_to_the_step():
    """Pushing is chosen in the step: a repository variable OCTOPUS_SERVER cannot turn a pack-only step into a push."""
    defaults = {item["name"]: item.get("default") for item in yaml.safe_load(PIPE_YML.read_text())["variables"]}
    assert "OCTOPUS_SERVER" not in defaults and "OCTOPUS_URL" not in defaults
    assert defaults["OCTOPUS_APIKEY"] == "$OCTOPUS_APIKEY"
    assert octopus_settings_from({**defaults, "OCTOPUS_APIKEY": KEY}) is None

"""Signing in with an access token or Bitbucket's step OIDC token, against the fake Octopus's real JWT checks."""

import logging
from pathlib import Path

import jwt
import pytest
import requests

from bitbucket_clone import bitbucket_env, make_clone
from fake_octopus.oidc import BitbucketStepTokens
from fixtures_pipe import run_pipe_natively
from octopus_pack.config.octopus import octopus_settings_from
from octopus_pack.errors import PipeError
from octopus_pack.masking import Secret
from octopus_pack.octopus import push_to_octopus
from octopus_pack.octopus.client import token_rejected
from octopus_pack.octopus.oidc import IssuedToken, RenewingAccessToken, describe_claims
from octopus_pack.octopus.settings import AccessToken, ApiKey, OidcExchange
from octopus_pack.package_result import PackageResult
from test_octopus_push import ENV, settings_for, write_package

SERVER = "https://octopus.example.com"
KEY = "API-ABCDEF0123456789"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return make_clone(tmp_path / "clone")


@pytest.fixture
def package(tmp_path: Path) -> PackageResult:
    return write_package(tmp_path / "MyApp.1.0.0.zip", {"index.html": b"<h1>hello</h1>"}, "MyApp", "1.0.0")


def settings_from(env: dict[str, str]):
    return octopus_settings_from(env)


@pytest.fixture(scope="module")
def bitbucket() -> BitbucketStepTokens:
    """Bitbucket's side: a workspace, a repository and the issuer key, generated for the test run."""
    return BitbucketStepTokens()


@pytest.fixture
def account(octopus, bitbucket) -> str:
    """A service account trusting this repository's step tokens, as the README tells users to set up."""
    return octopus.add_service_account(bitbucket.issuer, bitbucket.public_key, f"{bitbucket.repository_uuid}:*")


def oidc_env(repo: Path, octopus, account: str, step_token: str, **changes: str) -> dict[str, str]:
    env = bitbucket_env(repo, octopus, OCTOPUS_SERVICE_ACCOUNT_ID=account, BITBUCKET_STEP_OIDC_TOKEN=step_token,
                        **changes)
    del env["OCTOPUS_APIKEY"]
    return env


def the_failure(run) -> str:
    lines = [line for line in run.stdout.splitlines() if "✖" in line]
    assert run.returncode == 1 and len(lines) == 1, run.output
    assert "Traceback" not in run.output
    return lines[0]


# --- which credential ---------------------------------------------------------------------------------------------


def test_an_access_token_is_a_bearer_credential():
    settings = settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_ACCESS_TOKEN": "eyJ.token.value"})
    assert settings.credential == AccessToken("eyJ.token.value")
    assert "eyJ.token.value" not in settings.describe() + repr(settings)
    assert "credential=OCTOPUS_ACCESS_TOKEN" in settings.describe()


def test_a_service_account_and_the_step_token_select_oidc():
    env = {"OCTOPUS_SERVER": SERVER, "OCTOPUS_SERVICE_ACCOUNT_ID": "acc-1", "BITBUCKET_STEP_OIDC_TOKEN": "a.b.c"}
    settings = settings_from(env)
    assert settings.credential == OidcExchange("acc-1", Secret("a.b.c"))
    assert "a.b.c" not in repr(settings) + settings.describe()


def test_the_step_token_alone_selects_nothing():
    """Every `oidc: true` step has one, so an API key next to it is simply used."""
    env = {"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": KEY, "BITBUCKET_STEP_OIDC_TOKEN": "a.b.c"}
    assert settings_from(env).credential == ApiKey(KEY)
    with pytest.raises(PipeError, match="no credential is"):
        settings_from({"OCTOPUS_SERVER": SERVER, "BITBUCKET_STEP_OIDC_TOKEN": "a.b.c"})


@pytest.mark.parametrize("names", [("OCTOPUS_APIKEY", "OCTOPUS_ACCESS_TOKEN"),
                                   ("OCTOPUS_APIKEY", "OCTOPUS_SERVICE_ACCOUNT_ID"),
                                   ("OCTOPUS_ACCESS_TOKEN", "OCTOPUS_SERVICE_ACCOUNT_ID")])
def test_two_credentials_are_an_error_that_names_both(names):
    values = {"OCTOPUS_APIKEY": KEY, "OCTOPUS_ACCESS_TOKEN": "token-value-1", "OCTOPUS_SERVICE_ACCOUNT_ID": "acc"}
    env = {"OCTOPUS_SERVER": SERVER, "BITBUCKET_STEP_OIDC_TOKEN": "a.b.c", **{n: values[n] for n in names}}
    with pytest.raises(PipeError) as error:
        settings_from(env)
    assert f"{names[0]} and {names[1]} are each set" in str(error.value)
    assert KEY not in str(error.value) and "token-value-1" not in str(error.value)


def test_a_blank_credential_on_the_pipe_switches_a_workspace_one_off():
    env = {"OCTOPUS_SERVER": SERVER, "OCTOPUS_APIKEY": "", "OCTOPUS_ACCESS_TOKEN": "token-value-1"}
    assert settings_from(env).credential == AccessToken("token-value-1")
    assert settings_from({**env, "OCTOPUS_APIKEY": "$OCTOPUS_APIKEY"}).credential == AccessToken("token-value-1")


def test_an_api_key_given_as_access_token_is_pointed_at_octopus_apikey():
    with pytest.raises(PipeError, match="pass it as OCTOPUS_APIKEY"):
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_ACCESS_TOKEN": KEY})


def test_a_service_account_without_a_step_token_asks_for_oidc_true():
    with pytest.raises(PipeError, match="add `oidc: true` to the step"):
        settings_from({"OCTOPUS_SERVER": SERVER, "OCTOPUS_SERVICE_ACCOUNT_ID": "acc-1"})


# --- the fake's token endpoint ------------------------------------------------------------------------------------


def exchange(octopus, **fields) -> requests.Response:
    body = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", **fields}
    endpoint = requests.get(f"{octopus.url}/.well-known/openid-configuration", timeout=10).json()["token_endpoint"]
    return requests.post(endpoint, json=body, timeout=10)


def test_the_fake_verifies_the_signature_with_the_issuer_key(octopus, bitbucket, account):
    forged = BitbucketStepTokens(workspace=bitbucket.workspace, repository_uuid=bitbucket.repository_uuid)
    answer = exchange(octopus, audience=account, subject_token=forged.token(audience=account))
    assert answer.status_code == 400 and "could not be validated" in answer.json()["error_description"]
    good = exchange(octopus, audience=account, subject_token=bitbucket.token(audience=account))
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer" and good.json()["expires_in"] == 3600
    assert requests.get(f"{octopus.url}/api/users/me", timeout=10,
                        headers={"Authorization": f"Bearer {good.json()['access_token']}"}).status_code == 200
    assert requests.get(f"{octopus.url}/api/users/me", timeout=10,
                        headers={"X-Octopus-ApiKey": good.json()["access_token"]}).status_code == 401


def test_the_fake_requires_a_subject_token(octopus, account):
    answer = exchange(octopus, audience=account)
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_request",
                                                           "error_description": "A subject token is required."}


# --- pushing natively ---------------------------------------------------------------------------------------------


def test_oidc_alone_pushes_the_package_and_build_information_with_bearer_on_every_request(
        clone, octopus, bitbucket, account):
    step_token = bitbucket.token(audience=account)
    run = run_pipe_natively(oidc_env(clone, octopus, account, step_token, DEBUG="true"), clone)
    assert run.returncode == 0, run.output
    assert octopus.package_bytes("RandomQuotes", "1.0.0.7") == (clone / "out" / "RandomQuotes.1.0.0.7.zip").read_bytes()
    assert octopus.build_information_for("RandomQuotes", "1.0.0.7")["Commits"][0]["Comment"].strip() == \
        "PET-1 second commit"
    seen = octopus.requests
    assert [(r.method, r.kind) for r in seen[:2]] == [("GET", "openid-configuration"), ("POST", "token-exchange")]
    exchanged = seen[1].json
    assert exchanged["audience"] == account and exchanged["subject_token"] == step_token
    access_token = next(iter(octopus.oidc.issued))
    for record in seen[2:]:
        assert record.header("authorization") == f"Bearer {access_token}", record.route
        assert record.header("x-octopus-apikey") is None
    assert {"upload", "build-information"} <= {r.kind for r in seen}
    assert "Exchanged the step's OIDC token for an Octopus access token valid for 60 minutes" in run.output
    assert step_token not in run.output and access_token not in run.output
    print("\n".join(f"{r.method} {r.route} -> {r.status}" for r in seen))  # the closing note's request log


def test_an_access_token_pushes_with_bearer_on_every_request(clone, octopus, bitbucket, account):
    access_token = exchange(octopus, audience=account, subject_token=bitbucket.token(audience=account)).json()[
        "access_token"]
    octopus.clear_requests()
    env = bitbucket_env(clone, octopus, OCTOPUS_ACCESS_TOKEN=access_token, DEBUG="true")
    del env["OCTOPUS_APIKEY"]
    run = run_pipe_natively(env, clone)
    assert run.returncode == 0, run.output
    assert octopus.package_bytes("RandomQuotes", "1.0.0.7") == (clone / "out" / "RandomQuotes.1.0.0.7.zip").read_bytes()
    assert octopus.build_information_for("RandomQuotes", "1.0.0.7") is not None
    assert all(r.header("authorization") == f"Bearer {access_token}" for r in octopus.requests)
    assert access_token not in run.output


def test_an_expired_access_token_says_it_expired(clone, octopus, bitbucket, account):
    octopus.oidc.access_token_lifetime = -60  # issued already expired: nothing waits for a clock to pass it
    access_token = exchange(octopus, audience=account, subject_token=bitbucket.token(audience=account)).json()[
        "access_token"]
    env = bitbucket_env(clone, octopus, OCTOPUS_ACCESS_TOKEN=access_token)
    del env["OCTOPUS_APIKEY"]
    run = run_pipe_natively(env, clone)
    assert "OCTOPUS_ACCESS_TOKEN expired at" in the_failure(run)
    assert access_token not in run.output
    assert not (clone / "out").exists()  # refused before packing


@pytest.mark.parametrize(("token_options", "server_says"), [
    ({"expires_in": -60}, "The subject token has expired."),
    ({"audience": "ari:cloud:bitbucket::workspace/other"}, "The audience of the subject token does not match"),
    ({"subject": "{00000000-0000-0000-0000-000000000000}:{step}"}, "does not match any OIDC identity"),
])
def test_a_refused_exchange_quotes_the_server_and_shows_the_claims(clone, octopus, bitbucket, account, token_options,
                                                                  server_says):
    options = {"audience": account, **token_options}
    step_token = bitbucket.token(**options)
    run = run_pipe_natively(oidc_env(clone, octopus, account, step_token, DEBUG="true"), clone)
    line = the_failure(run)
    assert "Octopus refused to exchange the step's OIDC token" in line and server_says in line
    claims = jwt.decode(step_token, options={"verify_signature": False, "verify_exp": False})
    assert f'iss="{claims["iss"]}"' in line and f'sub="{claims["sub"]}"' in line and f'aud="{claims["aud"]}"' in line
    assert step_token not in run.output
    assert not (clone / "out").exists()  # the exchange comes before packing


def test_older_servers_errors_are_quoted_too(clone, octopus, bitbucket, account):
    octopus.oidc.legacy_errors = True
    run = run_pipe_natively(oidc_env(clone, octopus, account, bitbucket.token(audience="wrong")), clone)
    assert "There was a problem with your request. - The audience of the subject token" in the_failure(run)


def test_no_step_token_asks_for_oidc_true(clone, octopus, account):
    env = oidc_env(clone, octopus, account, "")
    del env["BITBUCKET_STEP_OIDC_TOKEN"]
    assert "add `oidc: true` to the step" in the_failure(run_pipe_natively(env, clone))
    assert octopus.requests == []


def test_no_credential_names_all_three_ways(clone, octopus):
    run = run_pipe_natively(bitbucket_env(clone, octopus, OCTOPUS_APIKEY=""), clone)
    line = the_failure(run)
    assert all(name in line for name in ("OCTOPUS_APIKEY", "OCTOPUS_ACCESS_TOKEN", "OCTOPUS_SERVICE_ACCOUNT_ID"))


def test_a_server_without_oidc_says_so(clone, octopus, bitbucket, account):
    octopus.fail_next("openid-configuration", status=404)
    run = run_pipe_natively(oidc_env(clone, octopus, account, bitbucket.token(audience=account)), clone)
    assert "offers no OIDC token exchange" in the_failure(run)


# --- token lifetime -----------------------------------------------------------------------------------------------


def oidc_settings(octopus, account: str, step_token: str, **overrides):
    return settings_for(octopus, credential=OidcExchange(account, Secret(step_token)), **overrides)


def test_the_discovered_token_endpoint_is_used(octopus, bitbucket, account, package):
    octopus.oidc.token_endpoint_path = "/api/token/v1"
    push_to_octopus(oidc_settings(octopus, account, bitbucket.token(audience=account)), package, ENV)
    assert octopus.requests_of("token-exchange")[0].route == "/api/token/v1"


def test_a_token_with_too_little_left_is_renewed_before_each_request(octopus, bitbucket, account, package,
                                                                    caplog):
    caplog.set_level(logging.INFO)
    octopus.oidc.access_token_lifetime = 60  # less than the 300 s margin: every request needs a new token
    push_to_octopus(oidc_settings(octopus, account, bitbucket.token(audience=account)), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    kinds = [r.kind for r in octopus.requests]
    api_calls = [i for i, kind in enumerate(kinds) if kind not in ("openid-configuration", "token-exchange")]
    assert len(api_calls) >= 3
    assert all(kinds[i - 1] == "token-exchange" for i in api_calls)  # a fresh exchange right before each call
    assert "Renewed the Octopus access token" in caplog.text


def test_a_token_renewal_that_the_server_refuses_says_the_step_token_expired(octopus, bitbucket, account, package):
    octopus.oidc.access_token_lifetime = 60  # inside the renewal margin: the next request renews it
    step_token = bitbucket.token(audience=account, expires_in=-60)  # run out already, by every clock
    octopus.oidc.lagging_exchanges = 1  # the first exchange still takes it; the renewal does not
    settings = oidc_settings(octopus, account, step_token)
    with pytest.raises(PipeError, match=r"The subject token has expired\..*The step token expired at"):
        push_to_octopus(settings, package, ENV)


class ManualClock:
    """An hour cannot pass in a test: the lifetime rules are checked against a clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_renewal_keeps_a_token_until_the_margin_and_a_401_after_expiry_says_expired():
    clock = ManualClock()
    issued = []

    def exchange_once() -> IssuedToken:
        issued.append(IssuedToken(AccessToken(f"access-token-{len(issued)}"), clock.now + 3600, 3600))
        return issued[-1]

    tokens = RenewingAccessToken(exchange_once, margin=300, clock=clock)
    assert tokens.current().token.reveal() == "access-token-0"
    clock.now += 3600 - 301
    assert tokens.current().token.reveal() == "access-token-0" and len(issued) == 1
    clock.now += 2
    assert tokens.current().token.reveal() == "access-token-1" and len(issued) == 2
    clock.now += 3600
    assert tokens.has_expired()
    error = token_rejected(OidcExchange("acc-1", Secret("a.b.c")), tokens, SERVER, "POST", "/api/Spaces-1/packages/raw",
                           "The access token has expired.")
    assert "access token of service account acc-1 expired at" in str(error)
    assert "POST /api/Spaces-1/packages/raw" in str(error)


def test_claims_are_described_without_the_token(bitbucket):
    token = bitbucket.token(audience="acc-9")
    described = describe_claims(token)
    assert '"acc-9"' in described and bitbucket.repository_uuid in described and token not in described
    assert "could not be read" in describe_claims("not-a-jwt")


def test_a_custom_audience_on_the_identity_accepts_bitbuckets_default_audience(octopus, bitbucket, package):
    default_audience = f"ari:cloud:bitbucket::workspace/{bitbucket.workspace_uuid.strip('{}')}"
    account = octopus.add_service_account(bitbucket.issuer, bitbucket.public_key, f"{bitbucket.repository_uuid}:*",
                                          audience=default_audience)
    push_to_octopus(oidc_settings(octopus, account, bitbucket.token()), package, ENV)  # the token's default aud
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert octopus.requests_of("token-exchange")[0].json["audience"] == account

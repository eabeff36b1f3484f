"""The built image signs in with Bitbucket's step OIDC token and pushes to the fake Octopus on 127.0.0.1."""

from pathlib import Path

import pytest

from bitbucket_clone import bitbucket_env, make_clone
from fake_octopus.oidc import BitbucketStepTokens

pytestmark = pytest.mark.container


def test_the_container_pushes_with_only_a_service_account_and_the_step_token(run_pipe_container, container_workdir,
                                                                             octopus):
    clone: Path = make_clone(container_workdir)
    bitbucket = BitbucketStepTokens()
    account = octopus.add_service_account(bitbucket.issuer, bitbucket.public_key, f"{bitbucket.repository_uuid}:*")
    step_token = bitbucket.token(audience=account)
    env = bitbucket_env(clone, octopus, OCTOPUS_SERVICE_ACCOUNT_ID=account, BITBUCKET_STEP_OIDC_TOKEN=step_token,
                        DEBUG="true")
    del env["OCTOPUS_APIKEY"]
    run = run_pipe_container(env, clone)
    assert run.returncode == 0, run.output
    assert octopus.package_bytes("RandomQuotes", "1.0.0.7") == (clone / "out" / "RandomQuotes.1.0.0.7.zip").read_bytes()
    assert octopus.build_information_for("RandomQuotes", "1.0.0.7") is not None
    seen = octopus.requests
    assert [r.kind for r in seen[:2]] == ["openid-configuration", "token-exchange"]
    access_token = next(iter(octopus.oidc.issued))
    assert all(r.header("authorization") == f"Bearer {access_token}" for r in seen[2:])
    assert step_token not in run.output and access_token not in run.output

"""The fake Octopus server's OIDC side: discovery, the token exchange, and a Bitbucket-like step token issuer.

Octopus trusts "Other Issuer" identities on a service account (issuer URL, subject pattern with * and ?, and
an audience that defaults to the service account ID). The exchange here verifies the subject token for real
with PyJWT: RS256 signature against the identity's public key, `iss`, `aud`, `exp` and the `sub` pattern.
Issued access tokens are HS256 JWTs of the fake itself, accepted only as `Authorization: Bearer` and only
until they expire, so a client that outlives its token gets the 401 a real server gives.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .state import ALL_PERMISSIONS, Principal

DISCOVERY_PATH = "/.well-known/openid-configuration"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
EXPIRED_TOKEN_MESSAGE = "The access token has expired. Please obtain a new access token."


def bitbucket_issuer_url(workspace: str) -> str:
    """The issuer Bitbucket Pipelines signs step tokens as."""
    return f"https://api.bitbucket.org/2.0/workspaces/{workspace}/pipelines-config/identity/oidc"


@dataclass
class BitbucketStepTokens:
    """Mints step tokens the way Bitbucket does (RS256, its claim names), with a key generated for the test."""

    workspace: str = "octo-workspace"
    workspace_uuid: str = field(default_factory=lambda: "{" + str(uuid.uuid4()) + "}")
    repository_uuid: str = field(default_factory=lambda: "{" + str(uuid.uuid4()) + "}")
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                     key_size=2048))

    @property
    def issuer(self) -> str:
        return bitbucket_issuer_url(self.workspace)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.key.public_key()

    def token(self, *, audience: str | list[str] | None = None, subject: str | None = None,
              expires_in: float = 3600, issuer: str | None = None, key: rsa.RSAPrivateKey | None = None) -> str:
        """A step token; `audience` defaults to Bitbucket's `ari:cloud:bitbucket::workspace/<uuid>`."""
        now = int(time.time())
        step_uuid = "{" + str(uuid.uuid4()) + "}"
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience or f"ari:cloud:bitbucket::workspace/{self.workspace_uuid.strip('{}')}",
            "sub": subject or f"{self.repository_uuid}:{step_uuid}",
            "iat": now,
            "exp": now + int(expires_in),
            "repositoryUuid": self.repository_uuid,
            "workspaceUuid": self.workspace_uuid,
            "stepUuid": step_uuid,
            "branchName": "main",
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "test-issuer-key"})


@dataclass
class OidcIdentity:
    """One "Other Issuer" identity on a service account."""

    issuer: str
    public_key: Any
    subject: str  # case-sensitive, * and ? wildcards
    audience: str | None = None  # None: the service account ID

    def subject_matches(self, subject: str) -> bool:
        pattern = re.escape(self.subject).replace(r"\*", ".*").replace(r"\?", ".")
        return re.fullmatch(pattern, subject) is not None


@dataclass
class ServiceAccount:
    service_account_id: str
    principal: Principal
    identities: list[OidcIdentity] = field(default_factory=list)


class ExchangeRefused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class OidcProvider:
    """What the fake knows about service accounts, identities and the access tokens it issued."""

    def __init__(self, principals: dict[str, Principal], lock: threading.RLock) -> None:
        self._principals = principals  # the server's credential table: issued tokens are added to it
        self._lock = lock
        self._secret = secrets.token_bytes(32)
        self.accounts: dict[str, ServiceAccount] = {}
        self.issued: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.access_token_lifetime = 3600  # seconds, as Octopus's expires_in
        self.token_endpoint_path = "/token/v1"  # relative to the server URL; the discovery document names it
        self.legacy_errors = False  # True: refusals as Octopus's {ErrorMessage, Errors} like older servers
        # The next N exchanges accept a step token up to an hour past its expiry, as a server whose clock runs
        # behind would: a test can then see a renewal refused without waiting for a token to run out.
        self.lagging_exchanges = 0

    def add_service_account(self, identity: OidcIdentity, *, username: str = "bitbucket-deployer",
                            permissions: frozenset[str] = ALL_PERMISSIONS) -> str:
        """A service account with one OIDC identity; returns its ID (what the audience must be by default)."""
        account_id = str(uuid.uuid4())
        with self._lock:
            user_number = len({p.user_id for p in self._principals.values()}) + 1
            principal = Principal(f"Users-{user_number}", username, frozenset(permissions))
            self.accounts[account_id] = ServiceAccount(account_id, principal, [identity])
        return account_id

    def discovery_document(self, base_url: str) -> dict[str, Any]:
        return {
            "issuer": base_url,
            "token_endpoint": base_url + self.token_endpoint_path,
            "grant_types_supported": [TOKEN_EXCHANGE_GRANT],
            "subject_token_types_supported": [JWT_TOKEN_TYPE],
        }

    def is_token_endpoint(self, path: str) -> bool:
        return path.rstrip("/").lower() == self.token_endpoint_path.rstrip("/").lower()

    def exchange(self, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's answer to an exchange request (JSON or form fields)."""
        try:
            token, lifetime = self._exchange(fields)
        except ExchangeRefused as refusal:
            if self.legacy_errors:
                return 400, {"ErrorMessage": "There was a problem with your request.", "Errors": [refusal.description]}
            return 400, {"error": refusal.error, "error_description": refusal.description}
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
                     "issued_token_type": ACCESS_TOKEN_TYPE}

    def expiry_of(self, token: str) -> float | None:
        """When an issued token expires, or None if the fake did not issue it."""
        with self._lock:
            return self.issued.get(token)

    def _exchange(self, fields: dict[str, Any]) -> tuple[str, int]:
        if fields.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            raise ExchangeRefused("unsupported_grant_type", f"The grant type must be {TOKEN_EXCHANGE_GRANT}.")
        if fields.get("subject_token_type") != JWT_TOKEN_TYPE:
            raise ExchangeRefused("invalid_request", f"The subject token type must be {JWT_TOKEN_TYPE}.")
        subject_token = fields.get("subject_token")
        if not isinstance(subject_token, str) or not subject_token:
            raise ExchangeRefused("invalid_request", "A subject token is required.")
        account_id = str(fields.get("audience") or "")
        with self._lock:
            account = self.accounts.get(account_id)
        if account is None:
            raise ExchangeRefused("invalid_request", f"No service account has the ID '{account_id}'.")
        with self._lock:
            lagging, self.lagging_exchanges = self.lagging_exchanges > 0, max(0, self.lagging_exchanges - 1)
        claims = self._verified_claims(subject_token, account, leeway=3600 if lagging else 0)
        lifetime = int(self.access_token_lifetime)
        now = int(time.time())
        access_token = jwt.encode(
            {"iss": "fake-octopus", "sub": account_id, "iat": now, "exp": now + lifetime,
             "jti": secrets.token_hex(8), "subject": claims["sub"]},
            self._secret, algorithm="HS256",
        )  # fmt: skip
        with self._lock:
            self.issued[access_token] = now + lifetime
            self._principals[access_token] = account.principal
        return access_token, lifetime

    def _verified_claims(self, subject_token: str, account: ServiceAccount, leeway: float = 0) -> dict[str, Any]:
        try:
            issuer = jwt.decode(subject_token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as error:
            raise ExchangeRefused("invalid_request", f"The subject token is not a valid JWT: {error}.") from None
        identities = [i for i in account.identities if i.issuer == issuer]
        if not identities:
            raise ExchangeRefused("invalid_request", f"The service account has no OIDC identity for the issuer "
                                                     f"'{issuer}'.")
        problems = []
        for identity in identities:
            try:
                claims = jwt.decode(
                    subject_token, identity.public_key, algorithms=["RS256"], issuer=identity.issuer,
                    audience=identity.audience or account.service_account_id,
                    options={"require": ["exp", "iss", "aud", "sub"]}, leeway=leeway,
                )  # fmt: skip
            except jwt.ExpiredSignatureError:
                problems.append("The subject token has expired.")
                continue
            except jwt.InvalidAudienceError:
                problems.append(f"The audience of the subject token does not match "
                                f"'{identity.audience or account.service_account_id}'.")
                continue
            except jwt.PyJWTError as error:
                problems.append(f"The subject token could not be validated: {error}.")
                continue
            if identity.subject_matches(str(claims["sub"])):
                return claims
            problems.append(f"The subject '{claims['sub']}' does not match any OIDC identity of the service account.")
        raise ExchangeRefused("invalid_grant", " ".join(dict.fromkeys(problems)))

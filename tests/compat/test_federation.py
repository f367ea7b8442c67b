"""Workload identity federation with the official SDK's `env-oidc` and
`file-oidc`: the emulator exchanges an ID token only when its federation
policy's keys signed it. The identity provider here is the test itself,
signing RS256 with a key it makes (the `cryptography` package the SDK's
own `google-auth` dependency brings)."""

import base64
import json
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from conftest import _binary

ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "repo:acme/etl:ref:refs/heads/main"
PRINCIPAL = "federated-ci"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class Issuer:
    """An identity provider: an RSA key and the ID tokens it signs."""

    def __init__(self, kid: str):
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks_json(self) -> str:
        numbers = self.key.public_key().public_numbers()
        return json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                                     "n": _uint(numbers.n), "e": _uint(numbers.e)}]})

    def id_token(self, audience: str, subject: str = SUBJECT, lifetime: int = 600) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": subject, "aud": audience, "iat": int(time.time()),
                  "exp": int(time.time()) + lifetime}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


@pytest.fixture(scope="module")
def trusted() -> Issuer:
    return Issuer("trusted-key")


@pytest.fixture(scope="module")
def federated(trusted):
    """An emulator whose one federation policy trusts `trusted`'s key."""
    policy = {"service_principal": PRINCIPAL, "issuer": ISSUER, "subject": SUBJECT,
              "jwks_json": trusted.jwks_json()}
    proc = subprocess.Popen(
        [_binary(), "--federation-policy", json.dumps(policy)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _token_endpoint(emulator) -> str:
    # A policy without audiences takes tokens for the workspace's token endpoint.
    return f"{emulator['url']}/oidc/v1/token"


def test_env_oidc_exchanges_a_signed_id_token(federated, trusted, monkeypatch):
    monkeypatch.setenv("DATABRICKS_OIDC_TOKEN", trusted.id_token(_token_endpoint(federated)))
    w = WorkspaceClient(host=federated["url"], auth_type="env-oidc", client_id=PRINCIPAL)
    assert w.current_user.me().user_name == PRINCIPAL


def test_file_oidc_exchanges_a_signed_id_token(federated, trusted, tmp_path):
    token_file = tmp_path / "id-token"
    token_file.write_text(trusted.id_token(_token_endpoint(federated)))
    config = Config(host=federated["url"], auth_type="file-oidc", client_id=PRINCIPAL,
                    oidc_token_filepath=str(token_file))
    w = WorkspaceClient(config=config)
    assert w.current_user.me().user_name == PRINCIPAL


@pytest.mark.parametrize("forgery", ["another key", "unsigned", "other subject", "expired"])
def test_an_id_token_the_policy_did_not_sign_for_is_refused(federated, trusted, monkeypatch, forgery):
    audience = _token_endpoint(federated)
    if forgery == "another key":
        token = Issuer("trusted-key").id_token(audience)
    elif forgery == "unsigned":
        header, claims, _ = trusted.id_token(audience).split(".")
        token = f"{header}.{claims}.{_b64(b'not a signature')}"
    elif forgery == "other subject":
        token = trusted.id_token(audience, subject="repo:acme/etl:pull_request")
    else:
        token = trusted.id_token(audience, lifetime=-60)
    monkeypatch.setenv("DATABRICKS_OIDC_TOKEN", token)
    w = WorkspaceClient(host=federated["url"], auth_type="env-oidc", client_id=PRINCIPAL)
    with pytest.raises(Exception) as refused:
        w.current_user.me()
    assert "invalid_grant" in str(refused.value) or "subject_token" in str(refused.value), str(refused.value)

"""Minimal RS256 JWT signing for tests (no PyJWT dependency): a stand-in for INDIGO IAM."""

from __future__ import annotations

import base64
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://iam.test.invalid/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


class TestIssuer:
    """Signs tokens like IAM would: iss, sub, groups, iat/exp."""

    __test__ = False  # not a pytest class

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def token(self, sub: str, groups: list[str], **claims) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "sub": sub, "groups": groups, "iat": now, "nbf": now - 5, "exp": now + 300}
        payload.update(claims)
        header = {"alg": "RS256", "typ": "JWT", "kid": "test"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

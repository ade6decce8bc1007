"""Checks of TLS files at build time: what nginx would refuse at start (or, for a certificate
chosen by server name, at every handshake) is an error at the policy line instead.

Found by a hunt: a mismatched key and certificate, a passphrase-protected key, a CA or
certificate file that is not PEM and an empty key all built (exit 0); nginx then refused the
bundle, and a mismatched key chosen by name even passed `nginx -t` and failed every handshake.
Uses ``cryptography`` (imported only when TLS is configured).
"""

from __future__ import annotations

from typing import Any


def certificates_problem(text: str, what: str = "certificate") -> str | None:
    """Why ``text`` is no PEM certificate (chain), or None."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        certs = []
    return None if certs else f"not a PEM {what} (-----BEGIN CERTIFICATE-----)"


def _private_key(text: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(text.encode(), password=None)


def key_problem(text: str) -> str | None:
    """Why ``text`` is no usable PEM private key, or None."""
    try:
        _private_key(text)
    except TypeError:
        return "the key is protected by a passphrase (nginx would ask for it at every start): give it unencrypted"
    except Exception:  # cryptography raises ValueError, or UnsupportedAlgorithm for odd key types
        return "not a PEM private key (-----BEGIN PRIVATE KEY-----)"
    return None


def pair_problem(cert_text: str, key_text: str) -> str | None:
    """Why the key does not belong to the (first) certificate, or None; both must be valid."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        cert = x509.load_pem_x509_certificates(cert_text.encode())[0]
        key = _private_key(key_text)
    except Exception:
        return None  # reported by the checks above
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return "the key does not belong to the certificate (their public keys differ)"
    return None


def check_pair(cert: Any, key: Any, cert_at: Any, key_at: Any, report: Any) -> None:
    """Report (``report(message, position)``) problems of a certificate and key asset pair."""
    problems = [
        (certificates_problem(cert.text) if cert else None, cert_at),
        (key_problem(key.text) if key else None, key_at),
    ]
    for message, where in problems:
        if message:
            report(message, where)
    if cert and key and not any(m for m, _ in problems):
        mismatch = pair_problem(cert.text, key.text)
        if mismatch:
            report(mismatch, key_at)

# -*- test-case-name: sockplug.endpoints.test.test_pemfiles -*-
"""
The PEM files of C{ssl:} and C{tls:} endpoints, checked when the string is
read: each refusal names the file and says what is wrong with it (not a
private key, not a certificate, a key that does not match its
certificate), where Twisted's parser would show OpenSSL's internals
(C{[('DECODER routines', '', 'unsupported')]}).

Twisted reads the files itself afterwards; these checks take what it takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from sockplug.errors import shown

__all__ = ["checkPEMFolder", "checkSSLFiles"]


def _read(key: str, path: str) -> bytes:
    """
    The bytes of the file C{key=} names.

    @raise ValueError: naming the file and why it cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        raise ValueError(f"{key}= {shown(path)} cannot be read: {why}") from None


def _privateKey(key: str, path: str, data: bytes) -> Any | None:
    """
    The private key in C{data}, or L{None} if it is encrypted (Twisted
    asks for its passphrase).

    @raise ValueError: if C{data} holds no PEM private key.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(data, None)
    except TypeError:  # encrypted: no password given
        return None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{key}= {shown(path)} is not a PEM private key") from None


def _certificates(key: str, path: str, data: bytes) -> list[Any]:
    """
    The certificates in C{data}, in order.

    @raise ValueError: if C{data} holds no PEM certificate, or one that
        cannot be read.
    """
    from cryptography.x509 import load_pem_x509_certificates

    try:
        return load_pem_x509_certificates(_blocks(data, certificates=True))
    except ValueError:
        raise ValueError(f"{key}= {shown(path)} is not a PEM certificate") from None


def _blocks(data: bytes, certificates: bool) -> bytes:
    """
    The PEM blocks of C{data} that are certificates (or, if not
    C{certificates}, the others), as Twisted's C{tls:} sorts them: by
    whether their BEGIN line says CERTIFICATE.
    """
    kept: list[bytes] = []
    keep = False
    for line in data.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN"):
            keep = (b"CERTIFICATE" in line) == certificates
        if keep:
            kept.append(line)
    return b"".join(kept)


def _publicKey(value: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
    )

    public: bytes = value.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    return public


def checkSSLFiles(kwargs: Mapping[str, str]) -> None:
    """
    Check the files of an C{ssl:} endpoint string's arguments as Twisted's
    parser will read them: C{privateKey=} (default C{server.pem}) holds a
    PEM private key, C{certKey=} (default the same file) a PEM certificate
    made for that key, and C{extraCertChain=} PEM certificates.

    @raise ValueError: naming the file and what is wrong with it.
    """
    keyPath = kwargs.get("privateKey", "server.pem")
    certPath = kwargs.get("certKey", keyPath)
    privateKey = _privateKey("privateKey", keyPath, _read("privateKey", keyPath))
    certData = _read("certKey", certPath)
    if "certKey" not in kwargs and not _blocks(certData, certificates=True):
        raise ValueError(
            f"privateKey= {shown(keyPath)} holds no certificate: put the"
            " certificate in it too, or name its file with certKey="
        )
    certificate = _certificates("certKey", certPath, certData)[0]
    if privateKey is not None and _publicKey(privateKey) != _publicKey(certificate):
        raise ValueError(
            f"the private key in {shown(keyPath)} does not match the certificate"
            f" in {shown(certPath)}: give the key the certificate was made for"
        )
    chain = kwargs.get("extraCertChain")
    if chain is not None:
        _certificates("extraCertChain", chain, _read("extraCertChain", chain))
    parameters = kwargs.get("dhParameters")
    if parameters is not None:
        _read("dhParameters", parameters)


def _pemFiles(folder: str) -> Iterator[str]:
    """
    The files Twisted's C{tls:} reads in C{folder}: those named C{*.pem},
    in it and below it.
    """
    for parent, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(parent, name)
            if name.endswith(".pem") and os.path.isfile(path):
                yield path


def checkPEMFolder(folder: str) -> None:
    """
    Check the PEM files of a C{tls:} folder as Twisted reads them: every
    certificate and every private key in them can be read.

    A folder that is not there yet holds no files: Twisted reads it again
    when a name is asked for.

    @raise ValueError: naming the file and what is wrong.
    """
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509 import load_pem_x509_certificates

    for path in _pemFiles(folder):
        data = _read("tls: file", path)
        certificates = _blocks(data, certificates=True)
        if certificates:
            try:
                load_pem_x509_certificates(certificates)
            except ValueError:
                raise ValueError(
                    f"{shown(path)} in the tls: folder holds a certificate that is"
                    " not valid PEM; fix or remove it"
                ) from None
        keys = _blocks(data, certificates=False)
        for block in keys.split(b"-----BEGIN")[1:]:
            try:
                load_pem_private_key(b"-----BEGIN" + block, None)
            except TypeError:  # encrypted: Twisted asks for its passphrase
                continue
            except ValueError:
                raise ValueError(
                    f"{shown(path)} in the tls: folder holds a private key that is"
                    " not valid PEM; fix or remove it"
                ) from None

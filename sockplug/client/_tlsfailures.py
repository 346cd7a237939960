# -*- test-case-name: sockplug.client.test.test_tlsfailures -*-
"""
Why a TLS client's check of the server's certificate failed, in words a
person can act on: "the server's certificate has expired (on ...)" rather
than OpenSSL's "certificate verify failed".

OpenSSL's error says only that verification failed; the reason (its verify
error code) is not in it. So the certificates the server sent are checked
again, against the same trust store, with L{OpenSSL.crypto.X509StoreContext},
which does give the reason. A name that does not match comes from
C{service_identity} (which Twisted uses to check the name), with the name
asked for; the names the certificate does hold are read from it. So does
a certificate without any name (L{sockplug.client._tls} refuses it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import ISSLTransport
from twisted.python.failure import Failure

from sockplug.endpoints import parseArguments, prefixOf

if TYPE_CHECKING:
    from datetime import datetime

    from cryptography import x509
    from OpenSSL import SSL
    from OpenSSL.crypto import X509

__all__ = ["describeVerificationFailure", "tlsConnectionOf"]

# OpenSSL's verify error codes (X509_V_ERR_*, fixed in x509_vfy.h).
UNABLE_TO_GET_ISSUER_CERT = 2
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
DEPTH_ZERO_SELF_SIGNED_CERT = 18
SELF_SIGNED_CERT_IN_CHAIN = 19
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
CERT_REVOKED = 23

_UNKNOWN_ISSUER = (
    UNABLE_TO_GET_ISSUER_CERT,
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    UNABLE_TO_VERIFY_LEAF_SIGNATURE,
)

# The option naming a folder of CA certificates, by client endpoint type.
_TRUST_OPTIONS = {"tls": "trustRoots", "ssl": "caCertsDir"}
_CA_CERTIFICATES = "of CA certificates"


def tlsConnectionOf(transport: object) -> SSL.Connection | None:
    """
    The TLS connection under C{transport}, if it has one.

    Twisted lets go of it once the application has been told that the
    connection ended: keep it from then, for L{describeVerificationFailure}.
    """
    if not ISSLTransport.providedBy(transport):
        return None
    from OpenSSL import SSL

    try:
        handle = transport.getHandle()  # type: ignore[attr-defined]
    except AttributeError:  # a closed TCP connection has no socket
        return None
    return handle if isinstance(handle, SSL.Connection) else None


def describeVerificationFailure(
    reason: Failure, connection: SSL.Connection | None, description: str
) -> str | None:
    """
    One line saying why the server's certificate was refused.

    @param reason: why the connection ended.
    @param connection: its TLS connection (L{tlsConnectionOf} its transport,
        taken when it ended), which holds the certificates the server sent.
    @param description: the client endpoint string, for the option that
        names trusted CA certificates (C{trustRoots=}, C{caCertsDir=}).
    @return: the line, or L{None} if C{reason} is not a refused
        certificate, or if there is no more to say than OpenSSL's text.
    """
    chain = list((connection.get_peer_cert_chain() if connection else None) or [])
    if reason.check("service_identity.exceptions.VerificationError"):
        return _wrongName(reason.value, chain)
    if reason.check("service_identity.exceptions.CertificateError"):
        return _unusableNames(reason.value, chain)
    if (
        reason.check("OpenSSL.SSL.Error")
        and "certificate verify failed" in str(reason.value)
        and connection is not None
        and chain
    ):
        return _untrusted(connection, chain, description)
    return None


def _name(name: x509.Name) -> str:
    """
    A certificate's subject or issuer, shown by its common name if it has
    one.
    """
    from cryptography.x509.oid import NameOID

    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return repr(common[0].value if common else name.rfc4514_string())


def _wrongName(error: Any, chain: list[X509]) -> str:
    """
    The certificate is not for the name asked for: say which it is for.
    """
    from cryptography import x509

    wanted: list[str] = []
    for mismatch in error.errors:
        identity = mismatch.mismatched_id
        hostname = getattr(identity, "hostname", None)
        if isinstance(hostname, bytes):
            wanted.append(repr(hostname.decode("ascii", "replace")))
        else:
            wanted.append(repr(str(getattr(identity, "ip", identity))))
    line = f"the server's certificate is not for {' or '.join(wanted)}"
    if not chain:
        return line
    try:
        names = (
            chain[0]
            .to_cryptography()
            .extensions.get_extension_for_class(x509.SubjectAlternativeName)
            .value
        )
    except x509.ExtensionNotFound:
        return f"{line} (it names no host: it has no subjectAltName)"
    held = [
        *names.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in names.get_values_for_type(x509.IPAddress)),
    ]
    return f"{line} (it names: {', '.join(held) or 'no host'})"


def _unusableNames(error: BaseException | None, chain: list[X509]) -> str:
    """
    The certificate's names could not be checked: it has none (no
    subjectAltName: its subject's common name is not used), or one that
    cannot be used, as C{service_identity} says.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if chain:
        certificate = chain[0].to_cryptography()
        try:
            certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            line = "the server's certificate names no host (it has no subjectAltName"
            common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if common:
                line += f"; its common name {common[0].value!r} is not used"
            return f"{line})"
    what = " ".join(str(error).split()) or type(error).__name__
    return f"the server's certificate cannot be checked ({what})"


def _trusted(description: str, holding: str) -> str:
    """
    Where the trusted CA certificates came from, and how to give others
    (a folder C{holding} what is missing).
    """
    option = _TRUST_OPTIONS.get(prefixOf(description))
    if option is None:
        return "the trust store"
    if option in parseArguments(description)[1]:
        return f"{option}="
    return f"the system's trust store; give {option}=FOLDER {holding}"


def _untrusted(
    connection: SSL.Connection, chain: list[X509], description: str
) -> str | None:
    """
    OpenSSL refused the certificates C{chain}: check them again, against
    the trust store of C{connection}, for the reason.
    """
    from OpenSSL import crypto

    store = connection.get_context().get_cert_store()
    if store is None:
        return None
    try:
        crypto.X509StoreContext(store, chain[0], chain[1:]).verify_certificate()
    except crypto.X509StoreContextError as e:
        code, depth, message = e.errors
        return _reason(code, depth, str(message), e.certificate, description)
    return None


def _reason(
    code: int, depth: int, message: str, failing: X509, description: str
) -> str:
    """
    What OpenSSL's verify error C{code} means, for the certificate
    C{failing}, C{depth} steps up the chain from the server's.
    """
    certificate = failing.to_cryptography()
    whose = (
        "the server's certificate"
        if depth == 0
        else f"the certificate of its authority {_name(certificate.subject)}"
    )
    notSigned = "the server's certificate is not signed by a trusted authority"
    if code == CERT_HAS_EXPIRED:
        return f"{whose} has expired (on {_when(certificate.not_valid_after_utc)})"
    if code == CERT_NOT_YET_VALID:
        return (
            f"{whose} is not valid until {_when(certificate.not_valid_before_utc)}"
            " (is this machine's clock right?)"
        )
    if code == CERT_REVOKED:
        return f"{whose} has been revoked"
    if code == DEPTH_ZERO_SELF_SIGNED_CERT:
        return (
            "the server's certificate is self-signed, and not trusted"
            f" (it is not in {_trusted(description, 'holding it')})"
        )
    if code == SELF_SIGNED_CERT_IN_CHAIN:
        return (
            f"{notSigned} ({_name(certificate.subject)}, self-signed, is not in"
            f" {_trusted(description, _CA_CERTIFICATES)})"
        )
    if code in _UNKNOWN_ISSUER:
        return (
            f"{notSigned} ({_name(certificate.issuer)} is not in"
            f" {_trusted(description, _CA_CERTIFICATES)})"
        )
    return f"{whose}: {message}"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"

"""
Tests for L{sockplug.endpoints._pemfiles}: the PEM files of C{ssl:} and
C{tls:} endpoints, refused with the file's name and what is wrong.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._pemfiles import checkPEMFolder, checkSSLFiles
from sockplug.errors import EndpointSyntaxError
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._tls import PEMAuthority


def _keyPEM(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class SSLFilesTests(SynchronousTestCase):
    """
    Tests for L{checkSSLFiles}.
    """

    def setUp(self) -> None:
        self.authority = PEMAuthority(self.mktemp())
        key = ec.generate_private_key(ec.SECP256R1())
        _, certificate = self.authority.certificate("a", "a", key, key)
        self.both = self.authority.write("both.pem", certificate, key)
        self.cert = self.authority.write("cert.pem", certificate)
        self.key = self.file("key.pem", _keyPEM(key))
        self.junk = self.file("junk.pem", b"garbage\n")

    def file(self, name: str, data: bytes) -> str:
        """
        Write C{data} to C{name} in the folder; its path.
        """
        path = os.path.join(self.authority.folder, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def reason(self, **kwargs: str) -> str:
        """
        Why the files of C{kwargs} are refused.
        """
        return str(self.assertRaises(ValueError, checkSSLFiles, kwargs))

    def test_right(self) -> None:
        """
        A key and its certificate, in one file or two, are taken.
        """
        checkSSLFiles({"privateKey": self.both})
        checkSSLFiles({"privateKey": self.key, "certKey": self.cert})
        checkSSLFiles({"privateKey": self.both, "extraCertChain": self.cert})

    def test_notAKey(self) -> None:
        """
        A private key file that holds no key (garbage, or a certificate) is
        named as not a PEM private key.
        """
        for path in (self.junk, self.cert):
            self.assertEqual(
                self.reason(privateKey=path, certKey=self.cert),
                f"privateKey= '{path}' is not a PEM private key",
            )

    def test_notACertificate(self) -> None:
        """
        A certificate file that holds no certificate is named.
        """
        for path in (self.junk, self.key):
            self.assertEqual(
                self.reason(privateKey=self.key, certKey=path),
                f"certKey= '{path}' is not a PEM certificate",
            )

    def test_keyWithoutCertificate(self) -> None:
        """
        A key file given alone must hold the certificate too.
        """
        self.assertEqual(
            self.reason(privateKey=self.key),
            f"privateKey= '{self.key}' holds no certificate: put the certificate"
            " in it too, or name its file with certKey=",
        )

    def test_mismatch(self) -> None:
        """
        A key that is not the certificate's is named with both files.
        """
        other = self.file("other.pem", _keyPEM(ec.generate_private_key(ec.SECP256R1())))
        self.assertEqual(
            self.reason(privateKey=other, certKey=self.cert),
            f"the private key in '{other}' does not match the certificate in"
            f" '{self.cert}': give the key the certificate was made for",
        )

    def test_missing(self) -> None:
        """
        A file that cannot be read is named, with why, in words.
        """
        missing = os.path.join(self.authority.folder, "nope.pem")
        self.assertEqual(
            self.reason(privateKey=missing),
            f"privateKey= '{missing}' cannot be read: no such file or directory",
        )

    def test_defaultFile(self) -> None:
        """
        Without privateKey=, Twisted's default server.pem is the one read.
        """
        self.assertIn("privateKey= 'server.pem'", self.reason(certKey=self.cert))

    def test_chain(self) -> None:
        """
        An extraCertChain= file that holds no certificate is named.
        """
        self.assertEqual(
            self.reason(privateKey=self.both, extraCertChain=self.junk),
            f"extraCertChain= '{self.junk}' is not a PEM certificate",
        )


class PEMFolderTests(SynchronousTestCase):
    """
    Tests for L{checkPEMFolder}.
    """

    def setUp(self) -> None:
        self.authority = PEMAuthority(self.mktemp())
        self.authority.chain()

    def write(self, name: str, data: bytes) -> str:
        """
        Write C{data} to C{name} in the folder; its path.
        """
        path = os.path.join(self.authority.folder, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_right(self) -> None:
        """
        A folder of right PEM files, and files that are not C{*.pem}, are
        taken.
        """
        self.write("notes.txt", b"-----BEGIN CERTIFICATE-----\nx\n")
        self.write("plain.pem", b"no PEM block at all\n")
        checkPEMFolder(self.authority.folder)

    def test_missingFolder(self) -> None:
        """
        A folder that is not there yet holds nothing wrong.
        """
        checkPEMFolder(os.path.join(self.authority.folder, "nope"))

    def test_badCertificate(self) -> None:
        """
        A certificate that is not valid PEM is named with its file.
        """
        path = self.write(
            "bad.pem", b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"
        )
        e = self.assertRaises(ValueError, checkPEMFolder, self.authority.folder)
        self.assertEqual(
            str(e),
            f"'{path}' in the tls: folder holds a certificate that is not valid"
            " PEM; fix or remove it",
        )

    def test_badKey(self) -> None:
        """
        A private key that is not valid PEM is named with its file.
        """
        path = self.write(
            "bad.pem", b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n"
        )
        e = self.assertRaises(ValueError, checkPEMFolder, self.authority.folder)
        self.assertEqual(
            str(e),
            f"'{path}' in the tls: folder holds a private key that is not valid"
            " PEM; fix or remove it",
        )


class PEMFileTests(SynchronousTestCase):
    """
    The PEM files of C{ssl:} and C{tls:} are checked when the string is
    read, and a wrong one named.
    """

    def setUp(self) -> None:
        self.parser = EndpointParser.fromPlugins(MemoryDatagramReactor())
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.junk = os.path.join(self.folder, "junk.pem")
        with open(self.junk, "wb") as f:
            f.write(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")

    def test_ssl(self) -> None:
        """
        ssl: with a private key file that is not one says so, naming it.
        """
        description = f"ssl:0:privateKey={self.junk}"
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(
            e.reason, f"privateKey= '{self.junk}' is not a PEM private key"
        )

    def test_tls(self) -> None:
        """
        tls: with a folder holding a bad certificate names its file.
        """
        description = f"tls:{self.folder}:port=0"
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(
            e.reason,
            f"'{self.junk}' in the tls: folder holds a certificate that is not"
            " valid PEM; fix or remove it",
        )

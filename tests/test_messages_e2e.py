"""
End-to-end tests of the messages a wrong value gets (issue 15 item 19,
server side): from C{twistd sockplug} and from C{sockplug check-config},
each one exact line naming the value as the user wrote it and saying what
to write, with a non-zero exit and no traceback.
"""

from __future__ import annotations

import os
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.configured import SOCKPLUG, writeFile
from tests.harness import START_TIMEOUT, runTwistd, temporaryDirectory
from tests.tlscerts import selfSignedCertificate

# What twistd adds after each command-line error of sockplug's.
_SEE_HELP = " (see twistd sockplug --help)"


class _Assertions(SynchronousTestCase):
    """
    Assertions on a command's one line of error.
    """

    def assertOneLine(self, expected: str, *args: str) -> None:
        """
        C{twistd -n sockplug ARGS} ends with status 1 and exactly the line
        C{twistd sockplug: EXPECTED (see twistd sockplug --help)} on
        stderr, no traceback, and nothing served.
        """
        result = runTwistd(self, *args)
        self.assertEqual(result.code, 1, result.output)
        self.assertEqual(
            result.stderr.splitlines(), [f"twistd sockplug: {expected}{_SEE_HELP}"]
        )
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("listening on", result.output)

    def assertEndpointRefused(self, endpoint: str, reason: str) -> None:
        """
        C{--endpoint ENDPOINT} is refused with one line quoting it as
        written and giving C{reason}.
        """
        self.assertOneLine(f"--endpoint '{endpoint}': {reason}", "-e", endpoint)

    def checkConfig(self, text: str) -> tuple[str, list[str]]:
        """
        Run C{sockplug check-config} on a file holding C{text}, which must
        fail without a traceback.

        @return: the file's path, and the lines of stderr.
        """
        path = writeFile(self, "sockplug.toml", text)
        result = subprocess.run(
            [SOCKPLUG, "check-config", path],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        return path, result.stderr.splitlines()


_NOT_AN_ADDRESS = (
    "is not an IP address, such as 127.0.0.1 or \\:\\:1 (IPv6 colons are escaped)"
)


class InterfaceTests(_Assertions):
    """
    An C{interface=} that is not an IP address is refused when the
    command line is read, not when the server listens.
    """

    def test_tcpOutOfRange(self) -> None:
        """tcp:0:interface=999.1.1.1 is named."""
        self.assertEndpointRefused(
            "tcp:0:interface=999.1.1.1", f"interface '999.1.1.1' {_NOT_AN_ADDRESS}"
        )

    def test_tcpName(self) -> None:
        """A host name is not an address."""
        self.assertEndpointRefused(
            "tcp:0:interface=abc", f"interface 'abc' {_NOT_AN_ADDRESS}"
        )

    def test_tcpThreeParts(self) -> None:
        """1.2.3 is not an address (socket.inet_aton would take it)."""
        self.assertEndpointRefused(
            "tcp:0:interface=1.2.3", f"interface '1.2.3' {_NOT_AN_ADDRESS}"
        )

    def test_tcp6(self) -> None:
        """tcp6: is checked too."""
        self.assertEndpointRefused(
            "tcp6:0:interface=999.1.1.1", f"interface '999.1.1.1' {_NOT_AN_ADDRESS}"
        )

    def test_ssl(self) -> None:
        """ssl:, read by Twisted's parser, is checked before it."""
        self.assertEndpointRefused(
            "ssl:0:interface=abc", f"interface 'abc' {_NOT_AN_ADDRESS}"
        )


class ColonTests(_Assertions):
    """
    An IPv6 address written with its colons unescaped is refused with the
    escaped form to write.
    """

    def test_allow(self) -> None:
        """allow=::1 (read as allow= and two stray arguments)."""
        self.assertEndpointRefused(
            "tcp:0:allow=::1",
            "the colons of the IPv6 address in allow=::1 must be escaped:"
            " write allow=\\:\\:1, in single quotes in a shell",
        )

    def test_deny(self) -> None:
        """deny=fe80::1 (read as deny=fe80 and two stray arguments)."""
        self.assertEndpointRefused(
            "tcp:0:deny=fe80::1",
            "the colons of the IPv6 address in deny=fe80::1 must be escaped:"
            " write deny=fe80\\:\\:1, in single quotes in a shell",
        )

    def test_interface(self) -> None:
        """tcp6:0:interface=::1."""
        self.assertEndpointRefused(
            "tcp6:0:interface=::1",
            "the colons of the IPv6 address in interface=::1 must be escaped:"
            " write interface=\\:\\:1, in single quotes in a shell",
        )

    def test_otherValueCut(self) -> None:
        """A value cut at a colon that is no IPv6 address gets a hint."""
        self.assertEndpointRefused(
            "tcp:0:interface=127.0.0.1:8080",
            "too many arguments '0:8080'; give the port once, then key=value"
            " options (if interface= holds a colon, write it as \\:)",
        )


class QuotedAsWrittenTests(_Assertions):
    """
    An endpoint string is quoted back as it was written: its backslashes
    are not doubled.
    """

    def test_escapedColons(self) -> None:
        """tcp6:0:interface=\\:\\:1:bogus=1 keeps its single backslashes."""
        endpoint = "tcp6:0:interface=\\:\\:1:bogus=1"
        result = runTwistd(self, "-e", endpoint)
        self.assertEqual(result.code, 1, result.output)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(
            lines[0].startswith(f"twistd sockplug: --endpoint '{endpoint}': "),
            lines[0],
        )
        self.assertNotIn("\\\\", lines[0])


class FlagTests(_Assertions):
    """
    A yes-or-no option's message says what its help says it takes.
    """

    def test_lockfile(self) -> None:
        """lockfile=2: --help documents 1|0, and so does the message."""
        self.assertEndpointRefused(
            "unix:/tmp/sockplug-never.sock:lockfile=2", "lockfile='2' is not 1 or 0"
        )

    def test_nodelay(self) -> None:
        """nodelay=2: --help documents yes|no, and so does the message."""
        self.assertEndpointRefused("tcp:0:nodelay=2", "nodelay='2' is not yes or no")


class FileValueTests(_Assertions):
    """
    check-config names a wrong value of a file as the file gives it, not
    as sockplug turned it into text.
    """

    def assertFileProblem(self, key: str, problem: str) -> None:
        """
        A listener's table with C{KEY} is refused with the one line
        C{PATH: listener "a": PROBLEM}.
        """
        path, lines = self.checkConfig(
            f'[listeners.a]\nendpoint = "tcp:0:interface=127.0.0.1"\n{key}\n'
        )
        self.assertEqual(lines, [f'{path}: listener "a": {problem}'])

    def test_booleanForNumber(self) -> None:
        """idle = true is not a number, and is quoted as written."""
        self.assertFileProblem(
            "idle = true", "idle = true is not a number from 0 to 604800"
        )

    def test_numberForBoolean(self) -> None:
        """nodelay = 2 is not true or false."""
        self.assertFileProblem("nodelay = 2", "nodelay = 2 is not true or false")

    def test_booleanForList(self) -> None:
        """allow = true is not a list of addresses."""
        self.assertFileProblem(
            "allow = true",
            "allow = true is not a list of addresses, CIDR blocks, any, localhost",
        )

    def test_fraction(self) -> None:
        """maxconn = 1.5 is quoted as written."""
        self.assertFileProblem(
            "maxconn = 1.5", "maxconn = 1.5 is not a whole number from 1 to 1000000"
        )

    def test_text(self) -> None:
        """backlog = "x" is quoted as the file writes text."""
        self.assertFileProblem(
            'backlog = "x"', 'backlog = "x" is not a positive number'
        )

    def test_twistdCheck(self) -> None:
        """twistd's --check says the same as check-config."""
        path = writeFile(
            self,
            "sockplug.toml",
            '[listeners.a]\nendpoint = "tcp:0:interface=127.0.0.1"\nidle = true\n',
        )
        result = runTwistd(self, "--config", path, "--check")
        self.assertNotEqual(result.code, 0, result.output)
        self.assertIn(
            f'{path}: listener "a": idle = true is not a number from 0 to 604800',
            result.stderr,
        )
        self.assertNotIn("Traceback", result.output)


class PEMFileTests(_Assertions):
    """
    A TLS endpoint's key or certificate file that is not one is named,
    with what is wrong, not with OpenSSL's internals.
    """

    def setUp(self) -> None:
        folder = temporaryDirectory(self)
        self.key, self.cert = selfSignedCertificate(folder)
        other = os.path.join(folder, "other")
        os.mkdir(other)
        self.otherKey, _ = selfSignedCertificate(other)
        self.junk = os.path.join(folder, "junk.pem")
        with open(self.junk, "w") as f:
            f.write("garbage\n")

    def test_keyNotAKey(self) -> None:
        """ssl: with privateKey= naming a file that is not a key."""
        self.assertEndpointRefused(
            f"ssl:0:privateKey={self.junk}:certKey={self.cert}",
            f"privateKey= '{self.junk}' is not a PEM private key",
        )

    def test_certificateNotACertificate(self) -> None:
        """ssl: with certKey= naming a file that is not a certificate."""
        self.assertEndpointRefused(
            f"ssl:0:privateKey={self.key}:certKey={self.junk}",
            f"certKey= '{self.junk}' is not a PEM certificate",
        )

    def test_keyNotTheCertificates(self) -> None:
        """ssl: with a key that is not the certificate's."""
        self.assertEndpointRefused(
            f"ssl:0:privateKey={self.otherKey}:certKey={self.cert}",
            f"the private key in '{self.otherKey}' does not match the certificate"
            f" in '{self.cert}': give the key the certificate was made for",
        )

    def test_checkConfig(self) -> None:
        """check-config names the file in the same words."""
        path, lines = self.checkConfig(
            f'[listeners.a]\nendpoint = "ssl:0:privateKey={self.junk}'
            f':certKey={self.cert}"\n'
        )
        self.assertEqual(
            lines,
            [
                f'{path}: listener "a": endpoint "ssl:0:privateKey={self.junk}'
                f":certKey={self.cert}\": privateKey= '{self.junk}' is not a PEM"
                " private key"
            ],
        )

# -*- test-case-name: sockplug.client.test.test_values -*-
"""
The values a user gives the C{sockplug} command, checked before anything
acts on them, and quoted back in its messages: the seconds and counts of
its options, and the hosts and ports of its endpoint strings.

Each refusal is one line naming the value as the user wrote it and saying
what to write instead; nothing of Python's (C{invalid literal for int()},
C{sys.set_int_max_str_digits}) or Twisted's (C{missing 1 required
positional argument}, C{connect_ex(): port must be 0-65535}) reaches the
user.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from twisted.internet.abstract import isIPv6Address
from twisted.python import usage

from sockplug.endpoints import argumentsInOrder
from sockplug.errors import EndpointSyntaxError
from sockplug.errors import shown as quotedBack
from sockplug.options import Bounds

__all__ = ["checkColons", "checkHostAndPort", "count", "seconds", "shown"]

# Longer texts are cut when quoted back: a 5,000-digit port is named by its
# start and its length, not written out, and so is an endpoint string that
# holds it. A value (a port, an option's) is cut sooner than a whole
# endpoint string, which may name long paths.
VALUE = 40
ENDPOINT = 200

# The client connects to a port: 0 (any) means nothing there.
_PORTS = Bounds(1, 65535)
_COUNTS = Bounds(0, 999_999_999)
_SECONDS = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")

# What a host is for each client type that has one, as Twisted's parsers
# take it: by name, or the first positional argument.
_EXAMPLES = {
    "tcp": "tcp:host=HOST:port=PORT",
    "ssl": "ssl:host=HOST:port=PORT:hostname=NAME",
    "tls": "tls:HOST:PORT",
    "udp": "udp:host=HOST:port=PORT",
}
_HOSTS = ("host", "bindAddress", "hostname")


def shown(text: str, limit: int = ENDPOINT) -> str:
    """
    C{text} quoted back as the user wrote it (see L{sockplug.errors.shown}),
    and if longer than C{limit}, cut to its start and its length.
    """
    return quotedBack(text, limit)


def seconds(option: str) -> Callable[[str], float]:
    """
    The check of the option C{--OPTION SECONDS}: a number of seconds, 0 or
    more, written in ASCII digits.

    @raise usage.UsageError: naming the option and the value.
    """

    def check(value: str) -> float:
        if _SECONDS.match(value):
            number = float(value)
            if math.isfinite(number):
                return number
        raise usage.UsageError(
            f"--{option} {shown(value, VALUE)} is not a number of seconds;"
            f" give one such as --{option} 2 or --{option} 0.5"
        )

    return check


def count(option: str) -> Callable[[str], int]:
    """
    The check of the option C{--OPTION N}: a whole number, 0 or more,
    written in ASCII digits.

    @raise usage.UsageError: naming the option and the value.
    """

    def check(value: str) -> int:
        number: int | None = _COUNTS.parse(value)
        if number is not None:
            return number
        raise usage.UsageError(
            f"--{option} {shown(value, VALUE)} is not a whole number from 0 to"
            f" 999999999; give one such as --{option} 3"
        )

    return check


def _unbracketed(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def checkColons(description: str) -> None:
    """
    Refuse an IPv6 address written with its colons unescaped
    (C{host=::1}), which Twisted's parser would take apart as several
    arguments and then refuse in words that do not say so.

    @raise EndpointSyntaxError: saying how to write it.
    """
    segments = argumentsInOrder(description)[1:]
    for index, (key, value) in enumerate(segments):
        if not (key in _HOSTS or (key is None and index == 0)):
            continue
        if isIPv6Address(_unbracketed(value)):
            continue  # escaped as it should be
        rest: list[str] = []
        for following, text in segments[index + 1 :]:
            if following is not None:
                break
            rest.append(text)
        # A positional host (tls:HOST:PORT) is followed by its port; a
        # host given by name (host=::1:port=P) is not.
        ends = (len(rest), len(rest) - 1) if key else (len(rest) - 1, len(rest))
        for end in ends:
            address = ":".join([value, *rest[:end]])
            if end > 0 and isIPv6Address(_unbracketed(address)):
                name = f"{key}=" if key else ""
                raise EndpointSyntaxError(
                    description,
                    f"the colons of the IPv6 address in {name}{address} must be"
                    f" escaped: write {name}{_escaped(address)}, in single"
                    " quotes in a shell",
                )


def _checkHost(description: str, key: str, host: str) -> None:
    digits = "".join(sorted({c for c in host if not c.isascii() and c.isdigit()}))
    if digits:
        raise EndpointSyntaxError(
            description,
            f"{key} {shown(host, VALUE)} has digits that are not ASCII ({digits});"
            " write addresses with the digits 0 to 9",
        )


def _checkPort(description: str, port: str) -> None:
    if len(port) > 5 or _PORTS.parse(port) is None:  # five digits at most
        raise EndpointSyntaxError(
            description, f"port {shown(port, VALUE)} is not a number from 1 to 65535"
        )


def checkHostAndPort(
    description: str, prefix: str, args: list[str], kwargs: dict[str, str]
) -> None:
    """
    Check the host and port of a client endpoint string of a type that has
    them (C{tcp}, C{ssl}, C{tls}, C{udp}), taken as Twisted's parsers take
    them, before those parsers see them: both given, the port a number
    from 1 to 65535, no digits but ASCII ones.

    @param prefix: its type, lower-cased.
    @param args: its positional arguments, its type first.
    @param kwargs: its keyword arguments.
    @raise EndpointSyntaxError: saying what is wrong and what to write.
    """
    example = _EXAMPLES.get(prefix)
    if example is None:
        return
    positional = list(args[1:])
    host = kwargs.get("host")
    port = kwargs.get("port")
    if host is None and positional:
        host = positional.pop(0)
    if port is None and positional:
        port = positional.pop(0)
    for key in _HOSTS:
        value = host if key == "host" else kwargs.get(key)
        if value is not None:
            _checkHost(description, key, value)
    if not host:
        raise EndpointSyntaxError(description, f"no host given; e.g. {example}")
    if not port:
        raise EndpointSyntaxError(description, f"no port given; e.g. {example}")
    _checkPort(description, port)

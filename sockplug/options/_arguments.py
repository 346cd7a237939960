# -*- test-case-name: sockplug.options.test.test_arguments -*-
"""
The values of endpoint-string arguments, checked: each function takes the
text and gives the value, or raises L{ValueError} naming it and saying what
it should be (sockplug adds the endpoint string).
"""

from __future__ import annotations

import ipaddress
import os

from sockplug.errors import shown
from sockplug.options._setting import Bounds, yesOrNo

__all__ = [
    "SUN_PATH",
    "flag",
    "interface",
    "mode",
    "noOthers",
    "one",
    "optionName",
    "path",
    "port",
    "positive",
    "stale",
]

# Port numbers (0: any free port), whole numbers above 0, file modes.
PORTS = Bounds(0, 65535)
POSITIVE = Bounds(1)
MODES = Bounds(0, 0o777, base=8)
# The size of struct sockaddr_un's sun_path on Linux, its ending NUL included.
SUN_PATH = 108


def one(args: tuple[str, ...], kwargs: dict[str, str], name: str) -> str:
    """
    The one argument that may be given by position or as C{name=}.
    """
    if len(args) > 1:
        raise ValueError(
            f"too many arguments {shown(':'.join(args))};"
            f" give the {name} once, then key=value options"
        )
    if args and name in kwargs:
        raise ValueError(f"the {name} is given twice")
    if args:
        return args[0]
    if name in kwargs:
        return kwargs.pop(name)
    raise ValueError(f"no {name} given")


def noOthers(kwargs: dict[str, str], allowed: str) -> None:
    """
    Refuse the keyword arguments left over, listing the known ones.
    """
    if kwargs:
        unknown = ", ".join(optionName(name) for name in sorted(kwargs))
        raise ValueError(f"unknown option {unknown}; the options are {allowed}")


def optionName(name: str) -> str:
    """
    An option name as an error message shows it: as given, or quoted if it
    holds spaces or characters that do not print (a line break would split
    a one-line message).
    """
    if name and name.isprintable() and " " not in name:
        return name
    return repr(name)


def port(value: str) -> int:
    """
    A port number, 0 (any free port) to 65535.
    """
    number: int | None = PORTS.parse(value)
    if number is None:
        raise ValueError(f"port {shown(value)} is not a number from 0 to 65535")
    return number


def interface(value: str) -> str:
    """
    The address to listen on (C{interface=}): an IPv4 or IPv6 address, or
    empty (every address). Twisted's C{listenTCP} documents an address
    (its IPv4 socket would also look a name up, when it listens; sockplug
    checks when the string is read), and its C{listenUDP} takes only one.
    A link-local IPv6 address needs its scope (C{fe80::1%eth0}): the
    kernel binds none without one.
    """
    if value:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"interface {shown(value)} is not an IP address, such as"
                " 127.0.0.1 or \\:\\:1 (IPv6 colons are escaped)"
            ) from None
        if address.version == 6 and address.is_link_local and "%" not in value:
            escaped = value.replace(":", "\\:")
            raise ValueError(
                f"interface {shown(value)} is a link-local address: name its"
                f" network interface too, as {escaped}%eth0"
            )
    return value


def positive(name: str, value: str) -> int:
    """
    A whole number above 0.
    """
    number: int | None = POSITIVE.parse(value)
    if number is None:
        raise ValueError(f"{name} {shown(value)} is not a positive number")
    return number


def mode(value: str) -> int:
    """
    An octal file mode.
    """
    number: int | None = MODES.parse(value)
    if number is None:
        raise ValueError(f"mode {shown(value)} is not an octal file mode such as 660")
    return number


def flag(name: str, value: str) -> bool:
    """
    yes or no (also true/false, on/off, 1/0).
    """
    answer = yesOrNo(value)
    if answer is None:
        raise ValueError(f"{name}={shown(value)} is not yes or no")
    return answer


def stale(value: str) -> bool:
    """
    C{stale=replace} (true: replace a stale socket file) or C{fail}.
    """
    if value not in ("replace", "fail"):
        raise ValueError(f"stale={shown(value)} is not replace or fail")
    return value == "replace"


def path(value: str) -> str:
    """
    A socket path: not empty, no NUL byte, and short enough for a UNIX
    socket's address (C{sun_path}: L{SUN_PATH} bytes, its ending NUL
    included).
    """
    if not value:
        raise ValueError("the path is empty")
    if "\0" in value:
        raise ValueError("the path holds a NUL byte")
    size = len(os.fsencode(value))
    if size >= SUN_PATH:
        raise ValueError(
            f"the path is {size} bytes long; a UNIX socket's path is at most"
            f" {SUN_PATH - 1} bytes"
        )
    return value

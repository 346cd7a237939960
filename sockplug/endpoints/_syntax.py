# -*- test-case-name: sockplug.endpoints.test.test_syntax,sockplug.config.test.test_config -*-  # noqa: E501
"""
The syntax of C{--endpoint} values: C{[NAME@]TYPE:ARG:KEY=VALUE...}.

Arguments are split and unescaped by Twisted's own rules (those of
L{twisted.internet.endpoints.serverFromString}): C{:} separates arguments,
the first C{=} in an argument separates a key from its value, and C{\\}
makes the next character literal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping

from attrs import frozen

from sockplug.errors import EndpointSyntaxError

__all__ = [
    "Arguments",
    "ListenerSpec",
    "colonHint",
    "cutValue",
    "parseArguments",
    "parseListenerSpec",
    "prefixOf",
    "unparseArguments",
]


def parseArguments(description: str) -> tuple[list[str], dict[str, str]]:
    """
    Split an endpoint string into positional and keyword arguments, by
    Twisted's quoting rules.

    @param description: the endpoint string, e.g. C{udp:53:interface=\\:\\:1}.
    @return: C{(args, kwargs)}; C{args[0]} is the endpoint type:
        C{(["udp", "53"], {"interface": "::1"})}.
    @raise EndpointSyntaxError: if the string ends inside an escape.
    """
    args: list[str] = []
    kwargs: dict[str, str] = {}
    parts: list[str] = []
    current: list[str] = []
    chars = iter(description)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise EndpointSyntaxError(
                    description,
                    "it ends with a lone backslash; write \\\\ for a literal one",
                )
            current.append(escaped)
        elif char == ":":
            parts.append("".join(current))
            _add(args, kwargs, parts)
            parts, current = [], []
        elif char == "=" and not parts:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    _add(args, kwargs, parts)
    return args, kwargs


def _add(args: list[str], kwargs: dict[str, str], parts: list[str]) -> None:
    if len(parts) == 1:
        args.append(parts[0])
    else:
        kwargs[parts[0]] = parts[1]


def _quote(text: str, special: str) -> str:
    for char in "\\" + special:
        text = text.replace(char, "\\" + char)
    return text


def unparseArguments(args: list[str], kwargs: dict[str, str]) -> str:
    """
    The endpoint string that L{parseArguments} takes apart into C{args} and
    C{kwargs}, escaped by the same rules.
    """
    parts = [_quote(arg, ":=") for arg in args]
    parts.extend(f"{_quote(k, ':=')}={_quote(v, ':')}" for k, v in kwargs.items())
    return ":".join(parts)


def argumentsInOrder(description: str) -> list[tuple[str | None, str]]:
    """
    The arguments of an endpoint string in the order written (which
    L{parseArguments} does not keep between positional and keyword ones),
    unescaped: C{(key, value)}, the key L{None} for a positional one.
    """
    segments: list[tuple[str | None, str]] = []
    key: str | None = None
    current: list[str] = []
    chars = iter(description)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            segments.append((key, "".join(current)))
            key, current = None, []
        elif char == "=" and key is None:
            key, current = "".join(current), []
        else:
            current.append(char)
    segments.append((key, "".join(current)))
    return segments


def _isIPv6Text(text: str) -> bool:
    """
    Whether C{text} is an IPv6 address or network, or a comma-separated
    list of addresses and networks (C{allow=}'s) holding one.
    """
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not any(":" in entry for entry in entries):
        return False
    return all(_isNetwork(entry) for entry in entries)


def _isNetwork(text: str) -> bool:
    """
    Whether C{text} is an address or a network, as C{allow=} takes one.
    """
    if text.startswith("[") and "]" in text:  # [::1]/128, as in a URL
        text = text[1:].replace("]", "", 1)
    if text.lower() in ("any", "localhost"):
        return True
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        try:
            ipaddress.ip_address(text)  # with a scope: fe80::1%eth0
        except ValueError:
            return False
    return True


def colonHint(description: str) -> str | None:
    """
    If an endpoint string holds an IPv6 address whose colons are not
    escaped (C{tcp:0:allow=::1}), which splits it into an empty or cut
    value and stray arguments after it: the one line saying how to write
    it; L{None} otherwise.

    A string that parses is never given this hint: call it only to
    explain a failure.
    """
    segments = argumentsInOrder(description)
    for index, (key, value) in enumerate(segments):
        if not _isPlainKey(key) or index == 0:
            continue
        rest: list[str] = []
        for following, text in segments[index + 1 :]:
            if following is not None:
                break
            rest.append(text)
        for end in range(len(rest), 0, -1):
            address = ":".join([value, *rest[:end]])
            if _isIPv6Text(address):
                escaped = address.replace("\\", "\\\\").replace(":", "\\:")
                return (
                    f"the colons of the IPv6 address in {key}={address} must be"
                    f" escaped: write {key}={escaped}, in single quotes in a shell"
                )
    return None


def cutValue(description: str) -> str | None:
    """
    The key of the first keyword argument followed by positional ones
    (C{path=C:/x} read as C{path=C} and C{/x}): a value that an unescaped
    C{:} may have cut; L{None} if there is none.
    """
    segments = argumentsInOrder(description)
    for index, (key, _) in enumerate(segments[1:-1], 1):
        if _isPlainKey(key) and segments[index + 1][0] is None:
            return key
    return None


def _isPlainKey(key: str | None) -> bool:
    """
    Whether C{key} is a name as options are named (ASCII letters, digits,
    C{_}): only such a key is shown back in a hint, so that the hint stays
    one line whatever the string holds.
    """
    return key is not None and key.isascii() and key.isidentifier()


def prefixOf(description: str) -> str:
    """
    The endpoint type of an endpoint string: the text before its first
    unescaped C{:}, lower-cased, as Twisted matches it.

    @raise EndpointSyntaxError: if the string starts with C{key=value}.
    """
    return Arguments.parse(description).prefix


_NO_TYPE = "it has no endpoint type; write TYPE:ARGS, e.g. tcp:8888"


@frozen
class Arguments:
    """
    An endpoint string taken apart, once: its type and its arguments.

    @ivar type: the endpoint type, as written (L{prefix} is how it is
        matched).
    @ivar args: the positional arguments after the type.
    @ivar keywords: the C{key=value} arguments, in the order given.
    """

    type: str
    args: tuple[str, ...] = ()
    keywords: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, description: str) -> Arguments:
        """
        Take an endpoint string apart, by Twisted's quoting rules.

        @raise EndpointSyntaxError: if it ends inside an escape, or has no
            type (it starts with C{key=value}).
        """
        args, kwargs = parseArguments(description)
        if not args:  # "x=1": the first argument is a key=value
            raise EndpointSyntaxError(description, _NO_TYPE)
        return cls(args[0], tuple(args[1:]), tuple(kwargs.items()))

    @property
    def prefix(self) -> str:
        """
        The endpoint type lower-cased, as Twisted matches it.
        """
        return self.type.lower()

    @property
    def kwargs(self) -> dict[str, str]:
        """
        The keyword arguments, as a new dictionary.
        """
        return dict(self.keywords)

    @property
    def values(self) -> tuple[str, ...]:
        """
        Every argument's value, positional ones first (the type left out).
        """
        return (*self.args, *(value for _, value in self.keywords))

    @property
    def text(self) -> str:
        """
        The endpoint string these arguments are, escaped as L{parse} reads
        it back.
        """
        return unparseArguments([self.type, *self.args], self.kwargs)

    @property
    def canonical(self) -> str:
        """
        The endpoint string with its type lower-cased and its keywords in
        order of their names: the same for strings that differ only there.
        """
        return unparseArguments([self.prefix, *self.args], dict(sorted(self.keywords)))

    def withKeywords(self, added: Mapping[str, str]) -> Arguments:
        """
        These arguments with C{added} after the keywords given (a key given
        already keeps its place and takes the new value).
        """
        return Arguments(self.type, self.args, tuple({**self.kwargs, **added}.items()))

    def without(self, names: Collection[str]) -> Arguments:
        """
        These arguments without the keywords C{names}.
        """
        kept = tuple((k, v) for k, v in self.keywords if k not in names)
        return Arguments(self.type, self.args, kept)

    def inner(self) -> Arguments | None:
        """
        The endpoint after the type, with all the keywords (C{tcp:80} of
        C{haproxy:tcp:80}); L{None} if nothing follows the type.

        @raise EndpointSyntaxError: if keywords follow the type but no
            endpoint type does (C{haproxy:x=1}).
        """
        if not self.keywords and self.args in ((), ("",)):
            return None
        if not self.args:
            raise EndpointSyntaxError(unparseArguments([], self.kwargs), _NO_TYPE)
        return Arguments(self.args[0], self.args[1:], self.keywords)

    def innermost(self) -> Arguments:
        """
        The endpoint under any C{haproxy:}, with all the keywords:
        C{tcp:80:backlog=7} of C{haproxy:tcp:80:backlog=7}.
        """
        arguments = self
        while arguments.prefix == "haproxy" and arguments.args:
            arguments = Arguments(arguments.args[0], arguments.args[1:], self.keywords)
        return arguments

    @property
    def socketType(self) -> str:
        """
        The endpoint type that makes the socket: C{tcp} for C{haproxy:tcp:80}.
        """
        return self.innermost().prefix


@frozen
class ListenerSpec:
    """
    One C{--endpoint} value, taken apart.

    @ivar protocol: the protocol's name.
    @ivar endpoint: the endpoint string, as given.
    """

    protocol: str
    endpoint: str

    def __str__(self) -> str:
        return f"{self.protocol}@{self.endpoint}"


def parseListenerSpec(value: str, defaultProtocol: str) -> ListenerSpec:
    """
    Take a C{--endpoint} value apart into protocol name and endpoint string.

    Only the text before the first C{:} is looked at for C{NAME@}, so paths
    and values later in the string may hold C{@}.

    @param value: C{NAME@ENDPOINT} or C{ENDPOINT}.
    @param defaultProtocol: the protocol served where no C{NAME@} is given.
    @raise EndpointSyntaxError: if the name or the endpoint is empty.
    """
    head, colon, rest = value.partition(":")
    name, at, endpointType = head.partition("@")
    if not at:
        name, endpointType = defaultProtocol, head
    elif not name:
        raise EndpointSyntaxError(
            value,
            "the protocol name before '@' is empty; write NAME@ENDPOINT,"
            " e.g. echo@tcp:8888",
        )
    if not endpointType:
        raise EndpointSyntaxError(value, _NO_TYPE)
    return ListenerSpec(protocol=name, endpoint=endpointType + colon + rest)

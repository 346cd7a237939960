"""
sockplug's built-in protocols and datagram endpoint types, registered as
plugins the way a third party's are.
"""

from sockplug.endpoints import SystemdDatagramParser, UDPParser, UNIXDatagramParser
from sockplug.plugin import ProtocolPlugin
from sockplug.protocols import echo, hello, lineprint

echoProtocol = ProtocolPlugin(
    name="echo",
    description="Sends back every byte it receives (RFC 862).",
    stream=echo.buildStreamFactory,
    datagram=echo.buildDatagramProtocol,
)

linePrintProtocol = ProtocolPlugin(
    name="line-print",
    description="Prints each line it receives, with the endpoint and peer.",
    stream=lineprint.buildStreamFactory,
    datagram=lineprint.buildDatagramProtocol,
    options=lineprint.OPTIONS,
)

helloProtocol = ProtocolPlugin(
    name="hello",
    description="Greets each peer; answers each line NAME with Hello, NAME!",
    stream=hello.buildStreamFactory,
    datagram=hello.buildDatagramProtocol,
    options=hello.OPTIONS,
)

udpEndpoints = UDPParser()
unixDatagramEndpoints = UNIXDatagramParser()
systemdDatagramEndpoints = SystemdDatagramParser()

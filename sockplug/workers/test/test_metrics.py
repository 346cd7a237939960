"""
Tests for L{sockplug.workers._metrics}: reading and merging the workers'
metrics, in memory.
"""

from __future__ import annotations

from sockplug.testing._workers import WORKER_ONE_METRICS as _ONE
from sockplug.testing._workers import WORKER_TWO_METRICS as _TWO
from sockplug.testing._workers import SupervisorCase
from sockplug.testing._workers import samplesOf as _samples
from sockplug.workers._metrics import (
    encode,
    mergeMetrics,
    supervisorMetrics,
)


class MergeTests(SupervisorCase):
    """
    Tests for L{mergeMetrics}, L{supervisorMetrics} and L{encode}.
    """

    def test_merged(self) -> None:
        """
        Each worker's samples are kept, with a C{worker} label; a family
        is written once, with its type.
        """
        body, contentType = encode(mergeMetrics({1: _ONE, 2: _TWO}), "", [])
        text = body.decode()
        self.assertEqual(contentType, "text/plain; version=0.0.4; charset=utf-8")
        self.assertEqual(text.count("# TYPE sockplug_connections_total counter"), 1)
        self.assertEqual(
            _samples(text),
            {
                ("sockplug_connections_total", (("listener", "a"), ("worker", "1"))): 3,
                ("sockplug_connections_total", (("listener", "a"), ("worker", "2"))): 5,
                ("process_open_fds", (("worker", "1"),)): 12,
            },
        )

    def test_logDropped(self) -> None:
        """
        The supervisor's own dropped log lines are one sample without a
        C{worker} label, in the family the workers' texts name.
        """
        empty = "# TYPE sockplug_log_dropped_lines counter\n"
        body, _ = encode(mergeMetrics({1: _ONE + empty}, 4), "", [])
        text = body.decode()
        self.assertEqual(
            text.count("# TYPE sockplug_log_dropped_lines_total counter"), 1
        )
        self.assertEqual(_samples(text)[("sockplug_log_dropped_lines_total", ())], 4)

    def test_logDroppedWithoutFamily(self) -> None:
        """
        The supervisor's dropped log lines are written even when no worker
        names the family.
        """
        body, _ = encode(mergeMetrics({}, 0), "", [])
        self.assertEqual(
            _samples(body.decode()), {("sockplug_log_dropped_lines_total", ()): 0}
        )

    def test_names(self) -> None:
        """
        With C{name[]}, only those samples are written.
        """
        body, _ = encode(mergeMetrics({1: _ONE}), "", ["process_open_fds"])
        self.assertEqual(
            list(_samples(body.decode())), [("process_open_fds", (("worker", "1"),))]
        )

    def test_openMetrics(self) -> None:
        """
        A scraper that asks for OpenMetrics gets it.
        """
        body, contentType = encode(
            mergeMetrics({1: _ONE}), "application/openmetrics-text; version=1.0.0", []
        )
        self.assertTrue(contentType.startswith("application/openmetrics-text"))
        self.assertTrue(body.endswith(b"# EOF\n"))

    def test_supervisor(self) -> None:
        """
        The supervisor's own: how many workers, which were read, how often
        each was started again.
        """
        supervisor = self.started()
        self.end(2)
        body, _ = encode(supervisorMetrics(supervisor, [1]), "", [])
        samples = _samples(body.decode())
        self.assertEqual(samples[("sockplug_workers", ())], 2)
        self.assertEqual(samples[("sockplug_worker_up", (("worker", "1"),))], 1)
        self.assertEqual(samples[("sockplug_worker_up", (("worker", "2"),))], 0)
        self.assertEqual(
            samples[("sockplug_worker_restarts_total", (("worker", "2"),))], 1
        )

    def test_unresponsive(self) -> None:
        """
        The workers killed because their heartbeat fell silent are counted,
        each under its number.
        """
        supervisor = self.started(workerTimeout=2.0)
        self.say(1, {"ready": True})
        self.say(2, {"ready": True})
        for _ in range(5):
            self.reactor.advance(0.5)
            self.say(1, {"beat": True})
        body, _ = encode(supervisorMetrics(supervisor, [1, 2]), "", [])
        samples = _samples(body.decode())
        name = "sockplug_worker_unresponsive_total"
        self.assertEqual(samples[(name, (("worker", "1"),))], 0)
        self.assertEqual(samples[(name, (("worker", "2"),))], 1)
        self.assertIn(
            "# TYPE sockplug_worker_unresponsive_total counter", body.decode()
        )

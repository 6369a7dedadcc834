"""Prometheus metrics, one registry per app, and the ASGI middleware that records requests.

Names and labels (the Grafana dashboard is built from them):
- hark_http_requests_total{route,method,status}     counter
- hark_http_request_duration_seconds{route,method}  histogram
- hark_http_requests_in_flight                      gauge
- hark_errors_total{code}                           counter, one per error body sent
- hark_api_key_requests_total{key}                  counter, authenticated requests by the
                                                    key's name (HARK_API_KEYS `name:key`),
                                                    never the key itself
- hark_audio_seconds_total{task}                    counter, audio processed successfully
- hark_inference_seconds{task}                      histogram, time on the model per request
- hark_realtime_factor{task}                        histogram, inference seconds / audio seconds
- hark_queue_depth                                  gauge, requests waiting for the model
- hark_queue_capacity                               gauge, waiting requests allowed before 503
- hark_inference_running                            gauge, requests on the model now
- hark_model_load_seconds{model,device,compute_type} gauge
- hark_model_ready                                  gauge, 1 once the model is loaded
- hark_job_execution_seconds{status}                histogram, jobs this process ran, by outcome
- hark_job_delay_seconds                            histogram, their time in the queue
- hark_live_streams                                 gauge, open live streams
- hark_live_streams_refused_total                   counter, streams refused at the limit
- hark_live_partial_latency_seconds                 histogram, speech heard -> first partial
- hark_live_final_latency_seconds                   histogram, end of speech -> final sent
- hark_live_lag_seconds                             histogram, the lag values sent to clients
- hark_live_dropped_seconds_total                   counter, audio dropped at the pending cap
- hark_live_decode_seconds{kind}                    histogram, one live window's decode, its
                                                    wait for the model included; kind "step"
                                                    (partials) or "final" (the second pass
                                                    that makes finals)
Read from the job store at each scrape (the whole store: with Redis every replica reports the
same values, so aggregate these with max(), not sum()):
- hark_job_store_up                                 gauge, 0 when the store cannot be read
- hark_jobs_queued, hark_jobs_running               gauges
- hark_jobs_finished_total{status}                  counter: completed, failed, cancelled
- hark_jobs_retried_total                           counter
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsMiddleware"]

# The classic text format, which every Prometheus version parses (all names here are legacy-
# valid, so the output is the same as what newer clients label version=1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Up to an hour: a long recording is one request.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DURATION_BUCKETS += (120, 300, 600, 1800, 3600)
_LIVE_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
_RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


class Metrics:
    """The app's collectors; a fresh registry per app so tests can run several apps."""

    def __init__(self) -> None:
        # `*_created` series double the output for nothing a dashboard uses.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hark_http_requests",
            "HTTP requests answered.",
            ["route", "method", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "hark_http_request_duration_seconds",
            "Time from request to the end of the response.",
            ["route", "method"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "hark_http_requests_in_flight", "HTTP requests being handled.", registry=r
        )
        self.errors = Counter("hark_errors", "Error responses by error code.", ["code"], registry=r)
        self.key_requests = Counter(
            "hark_api_key_requests",
            "Authenticated requests by API key name (never the key).",
            ["key"],
            registry=r,
        )
        self.audio_seconds = Counter(
            "hark_audio_seconds", "Seconds of audio processed.", ["task"], registry=r
        )
        self.inference_seconds = Histogram(
            "hark_inference_seconds",
            "Time on the model per request (decoding included).",
            ["task"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.realtime_factor = Histogram(
            "hark_realtime_factor",
            "Inference seconds per second of audio (below 1: faster than real time).",
            ["task"],
            buckets=_RTF_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("hark_queue_depth", "Requests waiting for the model.", registry=r)
        self.queue_capacity = Gauge(
            "hark_queue_capacity", "Waiting requests allowed before answering 503.", registry=r
        )
        self.running = Gauge("hark_inference_running", "Requests on the model now.", registry=r)
        self.model_load_seconds = Gauge(
            "hark_model_load_seconds",
            "Time taken to load the model at start-up.",
            ["model", "device", "compute_type"],
            registry=r,
        )
        self.model_ready = Gauge("hark_model_ready", "1 once the model is loaded.", registry=r)
        self.job_execution = Histogram(
            "hark_job_execution_seconds",
            "Time jobs run by this process took, from start to end, by outcome.",
            ["status"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.job_delay = Histogram(
            "hark_job_delay_seconds",
            "Time jobs run by this process waited in the queue.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.live_streams = Gauge("hark_live_streams", "Open live streams.", registry=r)
        self.live_refused = Counter(
            "hark_live_streams_refused",
            "Live streams refused because the limit was reached.",
            registry=r,
        )
        self.live_partial_latency = Histogram(
            "hark_live_partial_latency_seconds",
            "From the arrival of speech to the first partial of its utterance.",
            buckets=_LIVE_BUCKETS,
            registry=r,
        )
        self.live_final_latency = Histogram(
            "hark_live_final_latency_seconds",
            "From the arrival of the end of speech (the pause) to its final.",
            buckets=_LIVE_BUCKETS,
            registry=r,
        )
        self.live_dropped = Counter(
            "hark_live_dropped_seconds",
            "Live audio dropped unprocessed because a stream sent faster than it was processed "
            "(overload=drop).",
            registry=r,
        )
        self.live_lag = Histogram(
            "hark_live_lag_seconds",
            "Audio received but not yet decoded, as reported to live clients.",
            buckets=_LIVE_BUCKETS,
            registry=r,
        )
        self.live_decode = Histogram(
            "hark_live_decode_seconds",
            "One live window's decode, its wait for the model included, by kind: step "
            "(partials) or final (the second pass whose words become final).",
            ["kind"],
            buckets=_LIVE_BUCKETS,
            registry=r,
        )
        for kind in ("step", "final"):
            self.live_decode.labels(kind=kind)
        for code in ("internal_error", "queue_full"):
            self.errors.labels(code=code)  # exported at 0 so rate() works from the start

    def observe_inference(self, task: str, audio_seconds: float, seconds: float) -> None:
        self.audio_seconds.labels(task=task).inc(audio_seconds)
        self.inference_seconds.labels(task=task).observe(seconds)
        if audio_seconds > 0:
            self.realtime_factor.labels(task=task).observe(seconds / audio_seconds)

    def observe_job(self, status: str, delay_s: float, execution_s: float | None) -> None:
        self.job_delay.observe(delay_s)
        if execution_s is not None:
            self.job_execution.labels(status=status.lower()).observe(execution_s)

    def watch_job_store(self, counts: Callable[[], dict[str, int]]) -> None:
        """Export the job store's counts (`JobStore.counts`) at every scrape."""
        self.registry.register(JobStoreCollector(counts))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class JobStoreCollector(Collector):
    """The job store's counts, read when Prometheus scrapes; a store that cannot be read
    gives hark_job_store_up 0 instead of failing the whole scrape."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> Iterator[Metric]:
        return iter(self._families({}))  # names only: no store read at registration

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.counts()
        except Exception:  # a store outage must not break /metrics
            logger.warning("job store unreadable for /metrics", exc_info=True)
            counts = None
        return iter(self._families(counts))

    @staticmethod
    def _families(counts: dict[str, int] | None) -> list[Metric]:
        up = GaugeMetricFamily("hark_job_store_up", "1 when the job store answers.")
        up.add_metric([], 0 if counts is None else 1)
        queued = GaugeMetricFamily("hark_jobs_queued", "Jobs waiting in the store's queue.")
        running = GaugeMetricFamily("hark_jobs_running", "Jobs running, on any replica.")
        finished = CounterMetricFamily(
            "hark_jobs_finished", "Jobs ended, by outcome (whole store).", labels=["status"]
        )
        retried = CounterMetricFamily("hark_jobs_retried", "Jobs run again (whole store).")
        if counts is None:
            return [up]
        queued.add_metric([], counts.get("inQueue", 0))
        running.add_metric([], counts.get("inProgress", 0))
        for status in ("completed", "failed", "cancelled"):
            finished.add_metric([status], counts.get(status, 0))
        retried.add_metric([], counts.get("retried", 0))
        return [up, queued, running, finished, retried]


class MetricsMiddleware:
    """Counts every HTTP request by route template (never the raw path: unbounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees when the app fails before starting a response
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            route = _route(scope)
            method = scope["method"]
            self.metrics.requests.labels(route=route, method=method, status=str(status)).inc()
            self.metrics.duration.labels(route=route, method=method).observe(
                time.perf_counter() - started
            )


def _route(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"

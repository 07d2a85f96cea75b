"""Metrics and tracing of a worker or client process: built once at the entry point from ``Settings``.

Metrics: Temporal's runtime metrics (``temporal_*``: task latencies, slots, polls...) and the jobs'
own (``ductape_jobs_*``, emitted by the workflow through the same meter) on one Prometheus endpoint.
Tracing: OpenTelemetry spans from the client's start through the workflow to each activity, via
Temporal's ``TracingInterceptor``, exported over OTLP/HTTP. Neither carries payloads, so no job
data or secret ever leaves in a metric label or a span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from ductape_jobs.activities.config.drivers import OTEL, Need, require
from ductape_jobs.activities.config.product_config import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

SERVICE_NAME = "ductape-jobs"


@dataclass(frozen=True)
class Telemetry:
    """What a process hands to ``Client.connect``: its runtime (metrics) and interceptors (tracing)."""

    runtime: Runtime | None = None
    interceptors: Sequence[Interceptor] = ()
    tracer_provider: TracerProvider | None = None
    """Flush it (``shutdown()``) before the process exits so the last spans are sent."""

    def shutdown(self) -> None:
        """Send the spans still buffered and stop exporting (the process's last step with telemetry)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def build_telemetry(
    *, metrics_address: str | None, otlp_endpoint: str | None, span_processor: SpanProcessor | None = None
) -> Telemetry:
    """Prometheus on ``metrics_address`` (``host:port``), spans to ``otlp_endpoint`` (or ``span_processor``).

    Raises:
        ValueError: ``metrics_address`` is not ``host:port``.
        ConfigError: the metrics port cannot be bound, or ``otlp_endpoint`` is set and the ``otel``
            extra is not installed.
    """
    runtime = None
    if metrics_address is not None:
        host, sep, port = metrics_address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"metrics address {metrics_address!r} must be host:port, e.g. 127.0.0.1:9464")
        try:
            runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address)))
        except RuntimeError as err:  # the port is taken, or the host is not an address of this machine
            raise ConfigError(f"cannot serve metrics on {metrics_address}: {err}") from None
    if otlp_endpoint is None and span_processor is None:
        return Telemetry(runtime=runtime)
    if otlp_endpoint is not None:
        require([Need("OTEL_EXPORTER_OTLP_ENDPOINT", "OpenTelemetry tracing", OTEL)])
    # Imported only when tracing is on: the OpenTelemetry SDK is a worker's memory otherwise unused.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if span_processor is not None:
        provider.add_span_processor(span_processor)
    if otlp_endpoint is not None:
        # Imported here: the exporter pulls in protobuf/requests, only needed when tracing is on.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_traces_url(otlp_endpoint))))
    tracer = provider.get_tracer(SERVICE_NAME)
    return Telemetry(runtime=runtime, interceptors=[TracingInterceptor(tracer)], tracer_provider=provider)


def _traces_url(endpoint: str) -> str:
    """OTLP/HTTP convention: the base endpoint gets ``/v1/traces``; a full traces URL is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"

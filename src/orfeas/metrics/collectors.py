"""Collectors read at scrape time: the host and process (:class:`SystemCollector`, GPUs through
NVML), the message broker's queue (:class:`BrokerCollector`), and the HTTP request family
(:class:`RequestCollector`, updated lock-free by the API's middleware).

Each yields its families when Prometheus scrapes; none runs a thread of its own.
"""

from __future__ import annotations

import bisect
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LOAD_WINDOWS = ("1m", "5m", "15m")
#: Request durations (the alerts' thresholds, 5 s and 30 s, are bucket edges).
REQUEST_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Metric families that exist only when NVML reports a GPU (absent, not zero, otherwise).
GPU_METRICS = (
    "orfeas_gpu_utilization_ratio",
    "orfeas_gpu_memory_used_bytes",
    "orfeas_gpu_memory_total_bytes",
    "orfeas_gpu_temperature_celsius",
)


# --- GPU through NVML ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuSample:
    """One GPU's readings; a field NVML could not read is ``None`` and its series is left out."""

    index: int
    name: str
    utilization_ratio: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    temperature_celsius: float | None = None


GpuProbe = Callable[[], Sequence[GpuSample]]


class NvmlProbe:
    """Reads GPUs through NVML (``nvidia-ml-py``/``pynvml``) when it imports and finds a device.

    ``available`` is False without the package, the driver or a device; then it returns nothing.
    """

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[tuple[int, str, Any]] = []
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                name = pynvml.nvmlDeviceGetName(handle)
                self._handles.append((index, name.decode() if isinstance(name, bytes) else str(name), handle))
            self._nvml = pynvml
        except Exception:  # ImportError, NVMLError (no driver / no device): no GPU series at all
            self._handles = []

    @property
    def available(self) -> bool:
        return self._nvml is not None and bool(self._handles)

    def __call__(self) -> list[GpuSample]:
        if not self.available:
            return []
        nvml = self._nvml
        samples = []
        for index, name, handle in self._handles:
            samples.append(
                GpuSample(
                    index=index,
                    name=name,
                    utilization_ratio=_try(
                        lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0
                    ),
                    memory_used_bytes=_try(lambda h=handle: float(nvml.nvmlDeviceGetMemoryInfo(h).used)),
                    memory_total_bytes=_try(lambda h=handle: float(nvml.nvmlDeviceGetMemoryInfo(h).total)),
                    temperature_celsius=_try(
                        lambda h=handle: float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
                    ),
                )
            )
        return samples


def _try(read: Callable[[], float]) -> float | None:
    try:
        return read()
    except Exception:  # one unreadable sensor must not break the scrape
        return None


# --- system metrics, read at scrape time --------------------------------------------------------
class SystemCollector(Collector):
    """Process, host, data-disk and GPU readings taken when Prometheus scrapes, not by a thread."""

    def __init__(self, data_dir: Path | str, gpu_probe: GpuProbe | None = None) -> None:
        self._data_dir = Path(data_dir)
        self._process = psutil.Process(os.getpid())
        self._gpu_probe = gpu_probe

    def describe(self) -> Iterable[Metric]:
        return []  # names are fixed and prefixed; skip the registry's collect-at-register call

    def _disk_path(self) -> Path:
        # The data directory may not exist yet (first start): measure the disk it will live on.
        path = self._data_dir.resolve()
        while not path.exists() and path != path.parent:
            path = path.parent
        return path

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        proc = self._process
        with proc.oneshot():
            cpu = proc.cpu_times()
            mem = proc.memory_info()
            threads = proc.num_threads()
            fds = proc.num_fds() if hasattr(proc, "num_fds") else None
            created = proc.create_time()
        yield CounterMetricFamily(
            "orfeas_process_cpu_seconds",
            "CPU time used by the ORFEAS API process (user + system).",
            value=cpu.user + cpu.system,
        )
        yield GaugeMetricFamily(
            "orfeas_process_resident_memory_bytes",
            "Resident memory of the ORFEAS API process.",
            value=mem.rss,
        )
        yield GaugeMetricFamily(
            "orfeas_process_virtual_memory_bytes", "Virtual memory of the ORFEAS API process.", value=mem.vms
        )
        yield GaugeMetricFamily("orfeas_process_threads", "Threads of the ORFEAS API process.", value=threads)
        if fds is not None:
            yield GaugeMetricFamily(
                "orfeas_process_open_fds", "Open file descriptors of the ORFEAS API process.", value=fds
            )
        yield GaugeMetricFamily(
            "orfeas_process_start_time_seconds",
            "Start time of the ORFEAS API process (Unix seconds).",
            value=created,
        )

        host_cpu = CounterMetricFamily(
            "orfeas_host_cpu_seconds",
            "CPU time of the whole host, all CPUs summed, by mode.",
            labels=["mode"],
        )
        for mode, seconds in psutil.cpu_times()._asdict().items():
            host_cpu.add_metric([mode], seconds)
        yield host_cpu
        yield GaugeMetricFamily(
            "orfeas_host_logical_cpus", "Logical CPUs of the host.", value=psutil.cpu_count() or 1
        )
        load = GaugeMetricFamily(
            "orfeas_host_load_average", "Host load average over a window.", labels=["window"]
        )
        for window, value in zip(LOAD_WINDOWS, psutil.getloadavg(), strict=True):
            load.add_metric([window], value)
        yield load
        vm = psutil.virtual_memory()
        yield GaugeMetricFamily(
            "orfeas_host_memory_total_bytes", "Physical memory of the host.", value=vm.total
        )
        yield GaugeMetricFamily(
            "orfeas_host_memory_available_bytes",
            "Memory the host can give to programs without swapping.",
            value=vm.available,
        )
        disk = psutil.disk_usage(str(self._disk_path()))
        yield GaugeMetricFamily(
            "orfeas_data_disk_free_bytes",
            "Free bytes (for unprivileged users) on the file system holding the data directory.",
            value=disk.free,
        )
        yield GaugeMetricFamily(
            "orfeas_data_disk_total_bytes",
            "Size of the file system holding the data directory.",
            value=disk.total,
        )
        yield from self._gpu_families()
        yield GaugeMetricFamily(
            "orfeas_system_collector_duration_seconds",
            "Time this scrape spent reading process, host, disk and GPU figures.",
            value=time.perf_counter() - started,
        )

    def _gpu_families(self) -> Iterator[Metric]:
        samples = self._gpu_probe() if self._gpu_probe is not None else []
        if not samples:
            return
        specs = (
            ("orfeas_gpu_utilization_ratio", "Share of time the GPU was busy (0..1).", "utilization_ratio"),
            ("orfeas_gpu_memory_used_bytes", "GPU memory in use.", "memory_used_bytes"),
            ("orfeas_gpu_memory_total_bytes", "GPU memory installed.", "memory_total_bytes"),
            ("orfeas_gpu_temperature_celsius", "GPU core temperature.", "temperature_celsius"),
        )
        for name, help_text, attr in specs:
            family = GaugeMetricFamily(name, help_text, labels=["gpu", "name"])
            for sample in samples:
                value = getattr(sample, attr)
                if value is not None:
                    family.add_metric([str(sample.index), sample.name], value)
            if family.samples:
                yield family


#: ``le`` label values of the request duration histogram.
DURATION_LE = (*(floatToGoString(b) for b in REQUEST_DURATION_BUCKETS), "+Inf")

#: (name, help) of the request families.
REQUESTS = ("orfeas_http_requests", "HTTP requests answered, by route template, method and status code.")
DURATION = (
    "orfeas_http_request_duration_seconds",
    "Time from receiving a request to the end of its response (streams: the whole stream).",
)
REQUEST_SIZE = ("orfeas_http_request_size_bytes", "Size of request bodies.")
RESPONSE_SIZE = ("orfeas_http_response_size_bytes", "Size of response bodies.")
IN_FLIGHT = ("orfeas_http_requests_in_flight", "HTTP requests being handled right now (concurrent requests).")


def label_value(value: str) -> str:
    """A label value escaped for the text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class RouteStats:
    """Duration buckets and body sizes of one (route, method), with its label strings rendered once."""

    __slots__ = ("buckets", "duration_sum", "labels", "request_sum", "response_sum")

    def __init__(self, route: str, method: str) -> None:
        self.buckets = [0] * (len(REQUEST_DURATION_BUCKETS) + 1)  # per bucket, not cumulative
        self.duration_sum = 0.0
        self.request_sum = 0.0
        self.response_sum = 0.0
        self.labels = f'method="{label_value(method)}",route="{label_value(route)}"'


class BrokerCollector(Collector):
    """``orfeas_broker_queue_messages``: jobs waiting in the message broker (queue=celery), read at
    scrape time. No sample at all while the broker does not answer (never a NaN or a stale value)."""

    def __init__(self, read: Callable[[], int | None]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            depth = self._read()
        except Exception:
            depth = None
        if depth is not None:
            family = GaugeMetricFamily(
                "orfeas_broker_queue_messages",
                "Job messages waiting in the message broker's queue (queue=celery).",
            )
            family.add_metric([], float(depth))
            yield family


class RequestCollector(Collector):
    """The request family: requests, duration histogram, body-size summaries and in-flight.

    The middleware updates it on the event-loop thread for every request, so it uses plain
    Python numbers, not prometheus_client's locked values. Counts are derived from the buckets
    when collected, so a scrape never sees a count that disagrees with its buckets. The text
    exposition renders the same figures faster (:mod:`orfeas.metrics.exposition`).
    """

    def __init__(self) -> None:
        self.in_flight = 0
        #: (route, method) → its durations and sizes
        self.routes: dict[tuple[str, str], RouteStats] = {}
        #: (route, method, status) → requests answered
        self.counts: dict[tuple[str, str, str], int] = {}

    def describe(self) -> Iterable[Metric]:
        return []

    def observe(
        self,
        route: str,
        method: str,
        status: str,
        duration_s: float,
        request_bytes: float,
        response_bytes: float,
    ) -> None:
        """One answered request; the labels must already be bounded."""
        stats = self.routes.get((route, method))
        if stats is None:
            stats = self.routes[(route, method)] = RouteStats(route, method)
        stats.buckets[bisect.bisect_left(REQUEST_DURATION_BUCKETS, duration_s)] += 1
        stats.duration_sum += duration_s
        stats.request_sum += request_bytes
        stats.response_sum += response_bytes
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(REQUESTS[0], REQUESTS[1], labels=["method", "route", "status"])
        for (route, method, status), count in list(self.counts.items()):
            requests.add_metric([method, route, status], count)
        yield requests
        duration = HistogramMetricFamily(DURATION[0], DURATION[1], labels=["method", "route"])
        request_size = SummaryMetricFamily(REQUEST_SIZE[0], REQUEST_SIZE[1], labels=["method", "route"])
        response_size = SummaryMetricFamily(RESPONSE_SIZE[0], RESPONSE_SIZE[1], labels=["method", "route"])
        for (route, method), stats in list(self.routes.items()):
            cumulative = list(itertools.accumulate(stats.buckets))
            duration.add_metric(
                [method, route], list(zip(DURATION_LE, cumulative, strict=True)), stats.duration_sum
            )
            request_size.add_metric([method, route], cumulative[-1], stats.request_sum)
            response_size.add_metric([method, route], cumulative[-1], stats.response_sum)
        yield duration
        yield request_size
        yield response_size
        yield GaugeMetricFamily(IN_FLIGHT[0], IN_FLIGHT[1], value=self.in_flight)

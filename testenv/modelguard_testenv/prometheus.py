"""A real Prometheus server (Debian's 2.42 package) on a loopback port, for tests.

It scrapes the given targets every second and evaluates every second, so a value a test
sets on an exporter is queryable within ~1-2 s. ``stop()``/``start()`` simulate an outage
and a recovery; the TSDB folder survives in between, as it would in a real restart.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import yaml

from modelguard_testenv._process import (
    ComponentStartError,
    ManagedProcess,
    MissingBinaryError,
    StartStop,
    free_port,
    http_status,
    keep_logs_from_env,
)
from modelguard_testenv.binaries import find_prometheus

__all__ = ["PrometheusServer"]

COMPONENT = "prometheus"


class PrometheusServer(StartStop):
    """Prometheus scraping ``targets`` (``host:port`` strings, path ``/metrics``).

    ``port`` pins the listening port (default: a free one, kept across restarts),
    ``binary`` overrides the lookup ($MODELGUARD_PROMETHEUS_BIN, /usr/bin/prometheus, PATH),
    ``extra_args`` are appended to the command line, ``rule_files`` are loaded as the
    config's rule_files (recording and alerting rules, evaluated every evaluation_interval).
    ``extra_args`` are appended to the command line. ``data_dir`` serves an existing
    TSDB (e.g. one backfilled by ``modelguard_testenv.history``), which ``close()`` then
    leaves alone; ``retention`` is ``--storage.tsdb.retention.time`` (Prometheus deletes
    blocks older than that, 15d by default: history backfilled further back needs more).
    """

    def __init__(
        self,
        targets: Iterable[str] = (),
        *,
        port: int | None = None,
        binary: str | Path | None = None,
        workdir: str | Path | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        job_name: str = "modelguard-testenv",
        extra_args: Sequence[str] = (),
        rule_files: Iterable[str | Path] = (),
        data_dir: str | Path | None = None,
        retention: str | None = None,
        startup_timeout: float = 30.0,
        keep_logs: bool | None = None,
    ) -> None:
        self._targets = list(targets)
        self._requested_port = port
        self._binary = binary
        self._requested_workdir = Path(workdir) if workdir is not None else None
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.job_name = job_name
        self._extra_args = list(extra_args)
        self._rule_files = [str(Path(f).resolve()) for f in rule_files]
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._retention = retention
        self.startup_timeout = startup_timeout
        self._keep_logs = keep_logs
        self._port: int | None = None
        self._workdir: Path | None = None
        self._process: ManagedProcess | None = None
        self.startup_seconds: float | None = None
        self.kept_logs_dir: Path | None = None

    # ---------------------------------------------------------------- properties

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("PrometheusServer.port is only known after start()")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. for ``PrometheusConnect(url=...)`` or a ModelDeployment spec."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def targets(self) -> list[str]:
        return list(self._targets)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("PrometheusServer.workdir is only known after start()")
        return self._workdir

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / "prometheus.log"

    # ---------------------------------------------------------------- lifecycle

    def _leave(self, *, failed: bool) -> None:
        self.close(keep_logs=True if failed else None)  # a failed block keeps the logs

    def start(self) -> Self:
        """Start (or restart after ``stop()``) and wait until ``/-/ready`` answers 200."""
        if self.running:
            return self
        began = time.monotonic()
        if self._workdir is None:
            if self._requested_workdir is not None:
                self._requested_workdir.mkdir(parents=True, exist_ok=True)
                self._workdir = self._requested_workdir
            else:
                self._workdir = Path(tempfile.mkdtemp(prefix="modelguard-prometheus-"))
        # The port is chosen once: a restarted Prometheus must come back at the same URL,
        # as a real one would behind its Service.
        if self._port is None:
            self._port = self._requested_port or free_port()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            binary = find_prometheus(self._binary)
        except MissingBinaryError as exc:
            with self.log_file.open("a", encoding="utf-8") as log:
                log.write(f"### {exc.reason}\n")
            raise MissingBinaryError(COMPONENT, exc.reason, self.log_file) from None
        self._write_config()
        process = ManagedProcess(COMPONENT, self._argv(binary), self.log_file, cwd=self.workdir)
        self._process = process
        try:
            process.ensure_port_free(self.port, "web.listen-address")
            process.start()
            ready = f"{self.url}/-/ready"
            process.wait_until(
                lambda: http_status(ready) == 200, timeout=self.startup_timeout, what="/-/ready"
            )
        except BaseException:
            process.stop(grace=5.0)
            self._keep(True)
            raise
        self.startup_seconds = time.monotonic() - began
        atexit.register(self.close)  # clean up even if the owner never calls close()
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL), keeping its data for a later ``start()``."""
        if self._process is not None:
            self._process.stop(grace=grace)

    def close(self, keep_logs: bool | None = None) -> None:
        """Stop for good and remove the work folder (logs kept on request or failure)."""
        atexit.unregister(self.close)
        self.stop()
        if self._workdir is None:
            return
        keep = keep_logs
        if keep is None:
            keep = self._keep_logs if self._keep_logs is not None else keep_logs_from_env()
        shutil.rmtree(self._workdir / "data", ignore_errors=True)  # ours, never data_dir
        if keep:
            self._keep(True)
        elif self._requested_workdir is None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    def _keep(self, keep: bool) -> None:
        if keep and self._workdir is not None:
            self.kept_logs_dir = self._workdir / "logs"
            print(
                f"modelguard-testenv: prometheus logs kept in {self.kept_logs_dir}", file=sys.stderr
            )

    # ---------------------------------------------------------------- configuration

    def _argv(self, binary: Path) -> list[str]:
        return [
            str(binary),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self._data_dir or self.workdir / 'data'}",
            *([f"--storage.tsdb.retention.time={self._retention}"] if self._retention else []),
            f"--web.listen-address=127.0.0.1:{self.port}",
            # Lets set_targets() reload the config without a restart.
            "--web.enable-lifecycle",
            # Debian's defaults point at /etc/prometheus/console*; we serve no consoles.
            f"--web.console.templates={self.workdir}",
            f"--web.console.libraries={self.workdir}",
            *self._extra_args,
        ]

    def _write_config(self) -> None:
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                # Prometheus rejects a timeout longer than the interval (default 10s).
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "scrape_configs": [
                {
                    "job_name": self.job_name,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": self._targets}],
                }
            ],
        }
        if self._rule_files:
            config["rule_files"] = self._rule_files
        path = self.workdir / "prometheus.yml"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.replace(path)  # atomic: a reload never reads a half-written file

    def set_targets(self, targets: Iterable[str]) -> None:
        """Replace the scrape targets; a running server reloads its config."""
        self._targets = list(targets)
        if self._workdir is None:
            return
        self._write_config()
        if self.running:
            request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10):
                    pass
            except (OSError, urllib.error.HTTPError) as exc:
                raise ComponentStartError(
                    COMPONENT, f"config reload failed: {exc}", self.log_file
                ) from exc

    def wait_for_targets(self, timeout: float = 15.0) -> float:
        """Wait until every target has been scraped successfully (``up == 1``).

        Returns the seconds waited; raises ComponentStartError on timeout so that a test
        never starts against a Prometheus that has no data yet.
        """
        process = self._process
        if process is None:
            raise RuntimeError("PrometheusServer.wait_for_targets() needs start() first")
        wanted = set(self._targets)

        def all_up() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=2) as resp:
                    data = json.load(resp)
            except (OSError, ValueError):
                return False
            healthy = {
                target["labels"].get("instance")
                for target in data["data"]["activeTargets"]
                if target.get("health") == "up"
            }
            return wanted <= healthy

        return process.wait_until(all_up, timeout=timeout, what=f"targets up: {sorted(wanted)}")

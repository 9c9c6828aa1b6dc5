"""Per-deployment cool-down: a deployment that keeps failing is skipped for a while."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tollgate.llm_proxy.catalog.service import Deployment

__all__ = ["DeploymentHealth"]


@dataclass
class _Record:
    consecutive_failures: int = 0
    cooling_until: float = 0.0


class DeploymentHealth:
    def __init__(
        self,
        failures_to_cool: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_cool = failures_to_cool
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def forget(self) -> None:
        """Clear every record (a new catalog, or a test starting afresh)."""
        self._records.clear()

    def succeeded(self, deployment: Deployment) -> None:
        record = self._records.get(deployment.key)
        if record is not None:
            record.consecutive_failures = 0
            record.cooling_until = 0.0

    def failed(self, deployment: Deployment, retry_after: float | None = None) -> None:
        record = self._records.setdefault(deployment.key, _Record())
        record.consecutive_failures += 1
        cool_for = 0.0
        if record.consecutive_failures >= self.failures_to_cool:
            cool_for = self.cooldown_seconds
        if retry_after:
            # An upstream that says when to come back is believed, within our own bound.
            cool_for = max(cool_for, min(retry_after, self.cooldown_seconds))
        if cool_for:
            record.cooling_until = self.clock() + cool_for

    def cooling_until(self, deployment: Deployment) -> float | None:
        record = self._records.get(deployment.key)
        if record is None or record.cooling_until <= self.clock():
            return None
        return record.cooling_until

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]:
        """Healthy deployments in catalog order, then cooling ones, soonest back first.

        Cooling deployments stay at the end rather than out: when all of them are
        cooling, trying one beats refusing every call until the first comes back.
        """
        healthy = [d for d in deployments if self.cooling_until(d) is None]
        cooling = sorted(
            (d for d in deployments if self.cooling_until(d) is not None),
            key=lambda d: self.cooling_until(d) or 0.0,
        )
        return healthy + cooling if healthy else cooling[:1]

    def snapshot(self, deployment: Deployment) -> dict[str, object]:
        record = self._records.get(deployment.key, _Record())
        until = self.cooling_until(deployment)
        return {
            "consecutive_failures": record.consecutive_failures,
            "cooling_for_seconds": round(until - self.clock(), 1) if until else 0.0,
        }

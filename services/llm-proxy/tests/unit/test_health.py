"""A deployment that keeps failing cools down; one that recovers is trusted again."""

from __future__ import annotations

from decimal import Decimal

from tollgate.llm_proxy.catalog.service import Deployment, Provider
from tollgate.llm_proxy.upstream.health import DeploymentHealth


def deployment(name: str) -> Deployment:
    return Deployment(Provider(name, "openai", f"https://{name}.test", None, {}), "m", Decimal(0),
                      Decimal(0))  # fmt: skip


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


A, B, C = deployment("a"), deployment("b"), deployment("c")


def test_consecutive_failures_cool_a_deployment_down_for_a_while() -> None:
    clock = Clock()
    health = DeploymentHealth(failures_to_cool=2, cooldown_seconds=30, clock=clock)
    health.failed(A)
    assert health.order([A, B]) == [A, B], "one failure is not enough"
    health.failed(A)
    assert health.order([A, B]) == [B, A], "a cooling deployment goes last"
    clock.now += 31
    assert health.order([A, B]) == [A, B]


def test_a_success_clears_the_failure_count() -> None:
    health = DeploymentHealth(failures_to_cool=2, cooldown_seconds=30, clock=Clock())
    health.failed(A)
    health.succeeded(A)
    health.failed(A)
    assert health.cooling_until(A) is None


def test_when_everything_is_cooling_the_one_back_soonest_is_tried() -> None:
    clock = Clock()
    health = DeploymentHealth(failures_to_cool=1, cooldown_seconds=30, clock=clock)
    health.failed(A)
    clock.now += 10
    health.failed(B)
    assert health.order([A, B]) == [A]


def test_retry_after_cools_at_once_but_never_beyond_our_bound() -> None:
    clock = Clock()
    health = DeploymentHealth(failures_to_cool=5, cooldown_seconds=30, clock=clock)
    health.failed(C, retry_after=3600)
    assert health.cooling_until(C) == clock.now + 30

"""Run every Tollgate service as a supervised local process.

    python scripts/devstack.py up      migrate, start all, print the gateway URL, Ctrl-C stops
    python scripts/devstack.py down    stop a stack started by ``up`` in another terminal
    python scripts/devstack.py migrate run every service's migrations

The end-to-end tests import ``Stack`` to run the same processes on other ports.
Service-to-service client secrets are made fresh for each run, so none is
written anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIDFILE = ROOT / ".run" / "devstack.pid"
COLORS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m"]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the env prefix, upper-cased
    module: str
    port: int
    database: str | None
    # Calls other services as itself (client-credentials at auth); the web app never
    # does: it calls the public API with the signed-in person's tokens.
    service_client: bool = True


SERVICES = [
    ServiceSpec("auth", "tollgate.auth", 8001, "auth"),
    ServiceSpec("billing", "tollgate.billing", 8002, "billing"),
    ServiceSpec("usage", "tollgate.usage", 8003, "usage"),
    ServiceSpec("llm-proxy", "tollgate.llm_proxy", 8004, "llm_proxy"),
    ServiceSpec("web", "tollgate.web", 8005, None, service_client=False),
    ServiceSpec("gateway", "tollgate.gateway", 8000, None),
]


def prefix(spec: ServiceSpec) -> str:
    return spec.name.upper().replace("-", "_")


@dataclass
class Stack:
    """The processes of one running system, and the environment they share."""

    port_offset: int = 0
    database_suffix: str = ""
    vhost: str = "tollgate"
    redis_db: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    log_dir: Path | None = None  # write each service's output to <log_dir>/<name>.log instead
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Made once per stack, so a restarted service still matches what auth knows.
    client_secrets: dict[str, str] = field(default_factory=dict)
    # Other processes to run beside the services (the stand-ins of ``make up``): name → argv.
    auxiliary: dict[str, list[str]] = field(default_factory=dict)
    _stopping: bool = False

    def port(self, name: str) -> int:
        return next(s.port for s in SERVICES if s.name == name) + self.port_offset

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def env(self) -> dict[str, str]:
        password = os.environ.get("TOLLGATE_DB_PASSWORD", "tollgate")
        env = {
            **os.environ,
            "TOLLGATE_ENV": os.environ.get("TOLLGATE_ENV", "development"),
            "AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "JWKS_URL": f"{self.url('auth')}/.well-known/jwks.json",
            "AUTH_INTERNAL_URL": self.url("auth"),
            "WEB_API_URL": self.url("gateway"),
            "PYTHONUNBUFFERED": "1",
        }
        clients = []
        for spec in SERVICES:
            p = prefix(spec)
            env[f"{p}_PORT"] = str(self.port(spec.name))
            env[f"GATEWAY_{p}_URL"] = self.url(spec.name)
            if spec.database:
                db = spec.database + self.database_suffix
                env[f"{p}_DATABASE_URL"] = (
                    f"postgresql+asyncpg://tollgate_{spec.database}:{password}@127.0.0.1:5432/{db}"
                )
            if not spec.service_client:
                continue
            client_secret = env.get(f"{p}_CLIENT_SECRET") or self.client_secrets.setdefault(
                spec.name, secrets.token_urlsafe(32)
            )
            env[f"{p}_CLIENT_SECRET"] = client_secret
            clients.append(f"{spec.name}:{client_secret}")
        # Auth learns every service client and its secret from this one variable.
        env.setdefault("AUTH_SERVICE_CLIENTS", ",".join(clients))
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        env = self.env()
        for spec in SERVICES:
            if spec.database:
                subprocess.run(
                    [sys.executable, "-m", spec.module, "migrate"], env=env, check=True, cwd=ROOT
                )

    def start(self) -> None:
        env = self.env()
        for name, argv in self.auxiliary.items():
            self._spawn(ServiceSpec(name, "", 0, None), env, "\033[90m", argv)
        for i, spec in enumerate(SERVICES):
            self._spawn(spec, env, COLORS[i % len(COLORS)])

    def _spawn(
        self, spec: ServiceSpec, env: dict[str, str], color: str, argv: list[str] | None = None
    ) -> None:
        proc = subprocess.Popen(
            argv or [sys.executable, "-m", spec.module],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[spec.name] = proc
        label = f"{color}{spec.name:>9}\033[0m | "
        log_file = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = (self.log_dir / f"{spec.name}.log").open("ab")
        threading.Thread(target=self._pump, args=(proc, label, log_file), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[bytes], label: str, log_file: Any) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if log_file is not None:
                log_file.write(line)
                log_file.flush()
            elif not self.quiet:
                sys.stdout.write(label + line.decode(errors="replace"))
                sys.stdout.flush()
        if log_file is not None:
            log_file.close()

    def restart(self, name: str) -> None:
        """Start a service again (after a test killed it), with the same environment."""
        index = next(i for i, s in enumerate(SERVICES) if s.name == name)
        self._spawn(SERVICES[index], self.env(), COLORS[index % len(COLORS)])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait()

    def restart_crashed(self) -> None:
        env = self.env()
        for i, spec in enumerate(SERVICES):
            proc = self.procs.get(spec.name)
            if proc is not None and proc.poll() is not None and not self._stopping:
                print(f"devstack: {spec.name} exited with {proc.returncode}; restarting")
                self._spawn(spec, env, COLORS[i % len(COLORS)])

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {s.name for s in SERVICES}
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} during start")
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"{self.url(name)}/readyz", timeout=1) as r,
                ):
                    if r.status == 200:
                        pending.discard(name)
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


STRIPE_STANDIN_PORT = 12111
LLM_STANDIN_PORT = 12112
PROVIDER_KEYS = (
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "ANTHROPIC_API_KEY",
    "A4F_API_KEY",
    "GLAMA_API_KEY",
    "REQUESTY_API_KEY",
)
STANDIN_CATALOG = """\
providers:
  standin: {{kind: openai, base_url: "http://127.0.0.1:{port}/v1"}}
models:
  gpt-4o-mini:
    endpoints: [chat, completions]
    deployments:
      - provider: standin
        model: gpt-4o-mini
        input_per_million: "0.15"
        output_per_million: "0.60"
  gpt-4o:
    endpoints: [chat]
    deployments:
      - provider: standin
        model: gpt-4o
        input_per_million: "2.50"
        output_per_million: "10.00"
  claude-3-5-haiku:
    endpoints: [chat]
    deployments:
      - provider: standin
        model: claude-3-5-haiku
        input_per_million: "0.80"
        output_per_million: "4.00"
"""


def with_standins(stack: Stack) -> list[str]:
    """Without Stripe or provider keys, run local stand-ins so the whole system works."""
    used = []
    if not os.environ.get("BILLING_STRIPE_API_KEY"):
        stack.auxiliary["stripe"] = [
            sys.executable,
            "-m",
            "tollgate.standins.stripe",
            "--port",
            str(STRIPE_STANDIN_PORT),
            "--secret",
            "whsec_standin",
            "--webhook-url",
            f"{stack.url('gateway')}/api/billing/webhooks/stripe",
            "--price",
            "price_pro:2000",
            "--price",
            "price_enterprise:10000",
            "--price",
            "price_pro_yearly:20000:year",
            "--price",
            "price_enterprise_yearly:100000:year",
        ]
        stack.extra_env.update(
            {
                "BILLING_STRIPE_API_KEY": "sk_test_standin",
                "BILLING_STRIPE_API_BASE": f"http://127.0.0.1:{STRIPE_STANDIN_PORT}",
                "BILLING_STRIPE_WEBHOOK_SECRETS": "whsec_standin",
                "BILLING_STRIPE_PRICE_PRO": "price_pro",
                "BILLING_STRIPE_PRICE_ENTERPRISE": "price_enterprise",
                "BILLING_STRIPE_PRICE_PRO_YEARLY": "price_pro_yearly",
                "BILLING_STRIPE_PRICE_ENTERPRISE_YEARLY": "price_enterprise_yearly",
            }
        )
        used.append(f"Stripe stand-in on :{STRIPE_STANDIN_PORT}")
    has_provider = any(os.environ.get(k) for k in PROVIDER_KEYS)
    if not has_provider and not os.environ.get("LLM_PROXY_PROVIDERS_FILE"):
        catalog = ROOT / ".run" / "standin-providers.yaml"
        catalog.parent.mkdir(exist_ok=True)
        catalog.write_text(STANDIN_CATALOG.format(port=LLM_STANDIN_PORT))
        stack.auxiliary["llm"] = [
            sys.executable,
            "-m",
            "tollgate.standins.llm",
            "--port",
            str(LLM_STANDIN_PORT),
        ]
        stack.extra_env["LLM_PROXY_PROVIDERS_FILE"] = str(catalog)
        used.append(f"LLM provider stand-in on :{LLM_STANDIN_PORT}")
    return used


def up() -> None:
    stack = Stack()
    standins = with_standins(stack)
    stack.migrate()
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    PIDFILE.parent.mkdir(exist_ok=True)
    PIDFILE.write_text(str(os.getpid()))
    try:
        stack.start()
        stack.wait_ready()
        gateway = stack.url("gateway")
        print(f"\n  Open Tollgate in your browser: {gateway}/")
        print(f"  API and OpenAI base URL: {gateway}/api, {gateway}/v1")
        for line in standins:
            print(f"  No keys configured, so using a {line}")
        print("  Ctrl-C stops every service.\n", flush=True)
        while not stopping.wait(1.0):
            stack.restart_crashed()
    finally:
        print("devstack: stopping")
        stack.stop()
        PIDFILE.unlink(missing_ok=True)


def migrate() -> None:
    Stack().migrate()


def down() -> None:
    if not PIDFILE.exists():
        print("devstack: nothing is running")
        return
    pid = int(PIDFILE.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            os.kill(pid, 0)
            time.sleep(0.1)
    PIDFILE.unlink(missing_ok=True)
    print("devstack: stopped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "migrate"])
    {"up": up, "down": down, "migrate": migrate}[parser.parse_args().command]()

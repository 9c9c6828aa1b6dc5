"""Rerun every benchmark and rewrite the "Latest run" section of bench/README.md.

    python bench/run_all.py            (``make bench``)

Each benchmark prints its own Markdown table; this collects them side by side
with the machine they ran on. The per-benchmark READMEs keep the history and the
analysis of where the time goes.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKER = "<!-- latest run: written by bench/run_all.py -->"

BENCHMARKS = [
    ("gateway", ["bench/gateway/run.py", "--workers", "2", "--seconds", "8", "--rounds", "2"]),
    ("llm", ["bench/llm/run.py"]),
    ("usage", ["bench/usage/run.py"]),
    ("auth", ["bench/auth/run.py"]),
    ("web", ["bench/web/run.py"]),
    ("db", ["bench/db/run.py"]),
]


def machine() -> str:
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )


def main() -> None:
    sections = []
    for name, command in BENCHMARKS:
        started = time.monotonic()
        print(f"== bench/{name}: {' '.join(command)}", flush=True)
        result = subprocess.run(
            [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=1800
        )
        took = time.monotonic() - started
        output = result.stdout.strip() or result.stderr.strip()[-2000:]
        status = "" if result.returncode == 0 else f" (exit {result.returncode})"
        sections.append(
            f"### {name}{status}\n\n`python {' '.join(command)}` ({took:.0f} s)\n\n{output}\n"
        )
        print(output, flush=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    readme = HERE / "README.md"
    text = readme.read_text()
    head = text.split(MARKER)[0]
    readme.write_text(
        f"{head}{MARKER}\n\n## Latest run ({stamp}; {machine()})\n\n" + "\n".join(sections)
    )


if __name__ == "__main__":
    main()

"""Write benchmark output into benchmarks/RESULTS.md, one marked section per script.

Each script owns the text between `<!-- begin:NAME -->` and `<!-- end:NAME -->`; re-running a
script replaces only its own section. Numbers come from the run itself, never typed by hand.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = ("# Benchmark results\n\nWritten by the scripts in `benchmarks/` (each replaces its own "
          "section). Ratios compare against baselines measured in the same run.\n\n")


def machine_description() -> str:
    try:
        import jax

        dev = ", ".join(sorted({d.device_kind for d in jax.devices()}))
        jv = jax.__version__
    except Exception:  # pragma: no cover - description only
        dev, jv = "?", "?"
    cpu = platform.processor() or platform.machine()
    try:
        model = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                               capture_output=True, text=True).stdout.strip()
        cpu = model or cpu
    except Exception:  # pragma: no cover
        pass
    return (f"{cpu}, {os.cpu_count()} cores; devices: {dev}; python {platform.python_version()}, "
            f"jax {jv}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")


def write_section(name: str, markdown: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    print(f"[results] wrote section '{name}' to {RESULTS}", file=sys.stderr)

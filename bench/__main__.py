"""`make bench`: run the benchmarks, print them, and write `bench/results/<name>.json`.

`python -m bench [NAME …]` runs some of them (names: crypto, import, segments). The
machine is shared and noisy, so each figure is a median of repeats, reported beside a
baseline measured in the same run by the same interpreter.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import crypto_bench, import_bench, segments_bench

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = {"crypto": crypto_bench, "import": import_bench, "segments": segments_bench}


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    stamp = {"when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "python": platform.python_version()}
    for name in names or list(BENCHMARKS):
        print(f"running {name}…", file=sys.stderr)
        result = {**stamp, **BENCHMARKS[name].run()}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""`make bench`: run the benchmarks, print and write `bench/results/latest.json`.

The machine is shared and noisy, so each figure is a median of several repeats and is
reported as a ratio against a baseline measured in the same run by the same interpreter.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import crypto_bench, import_bench

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    results = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "benchmarks": [crypto_bench.run(), import_bench.run()],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

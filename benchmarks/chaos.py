"""Chaos run: many seeds of faults + SIGKILLed `billing-pipeline bill` runs on the instance configuration
of `make dev` (pools, run monitoring); ends with the `chaos:` line.

python benchmarks/chaos.py --seeds 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chaos_harness import as_json, run_seed, summary_line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args()
    outcomes = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix=f"chaos-{seed}-") as workdir:
            outcome = run_seed(seed, Path(workdir))
        outcomes.append(outcome)
        print(as_json(outcome), flush=True)
    print(summary_line(outcomes), flush=True)
    return 0 if all(o.clean for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

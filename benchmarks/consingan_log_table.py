"""Per-stage seconds per iteration of a real ``gauapp-train consingan`` run, read from its log,
next to the official figures (DESIGN §5, 2 CPU threads).

The log's lines say ``stage D/N iteration I/T X s/it ...``, each X measured over the last
read-back window; the table gives their median and 25th percentile per stage (the percentile
shows what the run reached when nothing else ran beside it), and the official figure for the
same stage when the run has the official number of stages for its mode.

    python benchmarks/consingan_log_table.py checkpoints/chelsea.log [--mode generation]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

OFFICIAL = {"generation": [0.165, 0.258, 0.302, 0.640, 2.35, 4.94],
            "harmonization": [2.0, 3.4, 5.4]}
LINE = re.compile(r"stage (\d+)/(\d+) iteration \d+/\d+ ([0-9.]+) s/it")


def stage_timings(lines) -> tuple[int, dict[int, list[float]]]:
    """(number of stages, {1-based stage: [s/it per logged window]}) from log lines."""
    stages, per_stage = 0, {}
    for line in lines:
        m = LINE.search(line)
        if m:
            stage, stages = int(m.group(1)), int(m.group(2))
            per_stage.setdefault(stage, []).append(float(m.group(3)))
    return stages, per_stage


def table(lines, mode: str = "generation") -> str:
    stages, per_stage = stage_timings(lines)
    official = OFFICIAL.get(mode, [])
    official = official if len(official) == stages else []
    rows = ["| stage | windows | median s/it | p25 s/it | official s/it | official / median |",
            "|---|---|---|---|---|---|"]
    for stage in sorted(per_stage):
        values = sorted(per_stage[stage])
        median, p25 = statistics.median(values), values[len(values) // 4]
        off = official[stage - 1] if official else None
        rows.append(f"| {stage} | {len(values)} | {median:.3f} | {p25:.3f} | "
                    f"{'-' if off is None else f'{off:.3g}'} | "
                    f"{'-' if off is None else f'{off / median:.2f}x'} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log", type=Path)
    p.add_argument("--mode", default="generation", choices=sorted(OFFICIAL))
    args = p.parse_args(argv)
    try:
        lines = args.log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        print(f"consingan_log_table: cannot read {args.log} ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    if not stage_timings(lines)[1]:
        print(f"consingan_log_table: {args.log} has no 'stage D/N iteration I/T X s/it' lines",
              file=sys.stderr)
        return 2
    print(table(lines, args.mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())

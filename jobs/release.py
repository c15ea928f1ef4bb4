"""Release stage as a Spark job: segments -> release/<name>/ (shards, card, ATTRIBUTION, sums).

    spark-submit jobs/release.py --root runs/sample [--name sample] [--config run.toml]

The run root is a local path or gs:// URL. The release's splits, subsets,
thresholds, formats and shard size are the ``[release]`` table of the config.
Prints one JSON line on stdout: where the release is, its segments, hours
and sources, the files written and the segments rejected by reason. The
logic is galvasr.release.build_release.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from galvasr.config import load_config
from galvasr.release import build_release
from galvasr.spark import get_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="run root holding segments and catalog")
    parser.add_argument("--name", help="release name (default: [release] name of the config)")
    parser.add_argument("--config", type=Path, help="TOML config; its [release] table is used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    overrides = {"release": {"name": args.name}} if args.name else None
    config = load_config(args.config, overrides)
    spark = get_spark("galvasr-release")
    print(build_release(spark, args.root, config).to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

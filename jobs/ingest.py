"""Ingest stage as a Spark job: corpus catalog + item files -> catalog, transcripts, rejects.

    spark-submit jobs/ingest.py --corpus data/sample --root runs/sample [--config run.toml]

The corpus and run root are local paths or gs:// URLs. Logs the stage's
summary (catalog lines, rows written, rejects by reason, ignored files) as
one JSON line on stdout. The logic is galvasr.ingest.run_ingest.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from galvasr.config import load_config
from galvasr.ingest import run_ingest
from galvasr.spark import get_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="corpus root: catalog.jsonl, items/")
    parser.add_argument("--root", required=True, help="run root the tables are written under")
    parser.add_argument("--config", type=Path, help="TOML config; its [ingest] table is used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)
    spark = get_spark("galvasr-ingest")
    summary = run_ingest(spark, args.corpus, args.root, config.ingest)
    print(summary.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Align stage as a Spark job: logits + chunks + transcripts -> alignments, segments, rejects.

    spark-submit jobs/align.py --root runs/sample [--model models/galvasr-small]
        [--model-version V] [--config run.toml]

The run root is a local path or gs:// URL. The model checkpoint is the one
whose logits to align (default: ``[infer] model`` of the config, else the
committed model); it gives the vocabulary, blank, frame stride and version.
Logs the stage's summary (rows written, rejects by reason) as one JSON line
on stdout. The logic is galvasr.align_stage.run_align.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from galvasr.align_stage import load_contract, run_align
from galvasr.config import load_config
from galvasr.spark import get_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="run root holding logits and transcripts")
    parser.add_argument("--model", help="checkpoint folder of the model that made the logits")
    parser.add_argument("--model-version", help="fail unless the model is this version")
    parser.add_argument("--config", type=Path, help="TOML config; its [align] table is used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)
    contract = load_contract(args.model or config.infer.model or None, args.model_version)
    spark = get_spark("galvasr-align")
    summary = run_align(spark, args.root, contract, config.align)
    print(summary.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

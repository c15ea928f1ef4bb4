"""The ingest stage as a Spark job: catalog + item files -> catalog, transcripts, rejects.

    spark-submit jobs/ingest.py --root runs/sample [--config run.toml] [--set SECTION.KEY=VALUE]

Flags are those of ``galvasr ingest`` (``--help`` lists them); both are built from
the stage registry (galvasr.registry). Prints the stage's summary as one JSON line.
"""

import sys

from galvasr.registry import job_main

if __name__ == "__main__":
    sys.exit(job_main("ingest"))

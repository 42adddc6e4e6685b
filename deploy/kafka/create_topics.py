"""Create OPEL's topics on a real Kafka cluster, from the one topic list in ``streams.topics``.

    python deploy/kafka/create_topics.py --bootstrap 127.0.0.1:9092 [--partitions 4]
        [--replication-factor 1] [--dry-run]

Idempotent: topics that already exist are checked (partition count, clean-up policy) and left
alone, so the script can run before every start of the worker. The work is done by
``streams.topic_admin``, which the embedded broker of ``opel run`` uses too. Exit status 0 when
every topic exists as specified, 1 when creation failed or an existing topic differs, 2 for bad
arguments.
Run it with opel installed (``pip install .``), so ``streams`` is importable.

On a secured cluster it connects as the worker does, with the ``OPEL_KAFKA_*`` settings from the
environment, the env file and the secrets file (docs/configuration.md, docs/kafka.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from streams.kafka_security import PLAINTEXT, KafkaAccessError, KafkaSecurity, check_access, for_settings
from streams.settings import Settings, SettingsError
from streams.topic_admin import create_topics, describe_topics
from streams.topics import DEFAULT_PARTITIONS, TopicSpec, all_topics


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Create the OPEL topics on a Kafka cluster.")
    parser.add_argument("--bootstrap", required=True, help="host:port[,host:port] of the Kafka brokers")
    parser.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"partitions per topic; must equal the worker's OPEL_PARTITIONS (default {DEFAULT_PARTITIONS})",
    )
    parser.add_argument(
        "--replication-factor", type=int, default=1, help="replicas per partition (3 on a production cluster)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the cluster")
    parser.add_argument("--dry-run", action="store_true", help="print what would be created and exit")
    return parser


async def create(
    bootstrap: str,
    specs: Sequence[TopicSpec],
    replication_factor: int,
    timeout: float,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create missing topics; return problems (failed creations, mismatched existing topics)."""
    await check_access(bootstrap, security, timeout=max(timeout, 1.0))
    outcome = await create_topics(
        bootstrap,
        specs,
        replication_factor=replication_factor,
        timeout=max(timeout, 1.0),
        security=security,
    )
    for name in outcome.created:
        print(f"created {name}")
    # Each problem starts with its topic's name, and Kafka topic names cannot contain a colon.
    mismatched = {problem.split(":", 1)[0] for problem in outcome.mismatched}
    for name in outcome.existing:
        if name not in mismatched:
            print(f"exists  {name}")
    return list(outcome.problems)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.partitions < 1 or args.replication_factor < 1:
        print("--partitions and --replication-factor must be at least 1", file=sys.stderr)
        return 2
    specs = all_topics(args.partitions)
    if args.dry_run:
        print("\n".join(describe_topics(specs, args.replication_factor)))
        return 0
    try:
        security = for_settings(Settings.load())
    except SettingsError as exc:
        print(f"create_topics: {exc}", file=sys.stderr)
        return 2
    try:
        problems = asyncio.run(create(args.bootstrap, specs, args.replication_factor, args.timeout, security))
    except KafkaAccessError as exc:
        print(f"cannot create topics on {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # connection refused, timeout: say what and where, not a traceback
        print(f"cannot create topics on {args.bootstrap}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

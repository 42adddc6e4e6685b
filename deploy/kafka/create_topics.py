"""Create OPEL's topics on a real Kafka cluster, from the one topic list in ``streams.topics``.

    python deploy/kafka/create_topics.py --bootstrap 127.0.0.1:9092 [--partitions 4]
        [--replication-factor 1] [--dry-run]

Idempotent: topics that already exist are checked (partition count) and left alone, so the
script can run before every start of the worker. Exit status 0 when every topic exists as
specified, 1 when creation failed or an existing topic differs, 2 for bad arguments.
Run it with opel installed (``pip install .``), so ``streams`` is importable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from streams.broker import topic_config
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


def describe(specs: Sequence[TopicSpec], replication_factor: int) -> list[str]:
    """One line per topic: name, partitions, replicas and its configuration."""
    lines = []
    for spec in specs:
        config = ",".join(f"{k}={v}" for k, v in sorted(topic_config(spec).items())) or "defaults"
        lines.append(
            f"{spec.name} partitions={spec.partitions} replicas={replication_factor} config={config}"
        )
    return lines


async def create(
    bootstrap: str, specs: Sequence[TopicSpec], replication_factor: int, timeout: float
) -> list[str]:
    """Create missing topics; return problems (failed creations, mismatched existing topics)."""
    timeout_ms = max(int(timeout * 1000), 1000)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="opel-create-topics", request_timeout_ms=timeout_ms
    )
    await asyncio.wait_for(admin.start(), timeout)
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    name=spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=replication_factor,
                    topic_configs=topic_config(spec),
                )
                for spec in specs
            ],
            timeout_ms=timeout_ms,
        )
        problems: list[str] = []
        existing: list[str] = []
        for item in response.topic_errors:  # (topic, error_code[, error_message])
            name, code = str(item[0]), int(item[1])
            if code == TopicAlreadyExistsError.errno:
                existing.append(name)
            elif code != 0:
                message = item[2] if len(item) > 2 else ""
                problems.append(f"{name}: {for_code(code).__name__} {message or ''}".rstrip())
            else:
                print(f"created {name}")
        if existing:
            wanted = {spec.name: spec.partitions for spec in specs}
            for topic in await admin.describe_topics(existing):
                name, count = str(topic["topic"]), len(topic.get("partitions") or [])
                if count != wanted[name]:
                    problems.append(f"{name}: exists with {count} partitions, opel needs {wanted[name]}")
                else:
                    print(f"exists  {name}")
        return problems
    finally:
        await admin.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.partitions < 1 or args.replication_factor < 1:
        print("--partitions and --replication-factor must be at least 1", file=sys.stderr)
        return 2
    specs = all_topics(args.partitions)
    if args.dry_run:
        print("\n".join(describe(specs, args.replication_factor)))
        return 0
    try:
        problems = asyncio.run(create(args.bootstrap, specs, args.replication_factor, args.timeout))
    except Exception as exc:  # connection refused, timeout: say what and where, not a traceback
        print(f"cannot create topics on {args.bootstrap}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

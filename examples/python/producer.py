"""Route a prompt over RabbitMQ and rate the answer, with shared.messaging.client.OptimizerClient.

    .venv/bin/python examples/python/producer.py "What is the capital of France?"

Reads RABBITMQ_URL and AMQP_PREFIX like the services do. Prints the result as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from shared.messaging.client import OptimizerClient


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("prompt")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rate", type=int, choices=range(1, 6), help="also send this rating")
    args = parser.parse_args()
    url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    async with OptimizerClient(url, prefix=os.environ.get("AMQP_PREFIX", "")) as client:
        result = await client.route(args.prompt, max_tokens=args.max_tokens)
        output = result.model_dump(mode="json")
        if args.rate and result.ok:
            ack = await client.submit_feedback(result.request_id, args.rate)
            output["feedback"] = ack.model_dump(mode="json")
    print(json.dumps(output))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

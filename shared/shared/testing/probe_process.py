"""The probe service as a process of its own, for tests that kill it (`kill -9`) mid-batch.

`python -m shared.testing.probe_process` reads everything from the environment:

- `PROBE_BOOTSTRAP`, `PROBE_DATABASE_URL`, `PROBE_TOPIC_PREFIX`: where it runs;
- `PROBE_PUBLIC_KEYS`: a JSON list of the PEM public keys that may sign actor tokens;
- `PROBE_HANG_ON`: the user id of a contact on which its handler blocks forever (optional);
- `PROBE_SETTINGS`: a JSON object of `ServiceSettings` fields (`kafka_group_id`, ...; optional).

It runs until it is killed or gets SIGTERM/SIGINT (then it stops gracefully).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal

from shared.testing.harness import running
from shared.testing.probe import probe_service


async def serve() -> None:
    env = os.environ
    service = probe_service(
        env["PROBE_BOOTSTRAP"],
        env["PROBE_DATABASE_URL"],
        env["PROBE_TOPIC_PREFIX"],
        json.loads(env["PROBE_PUBLIC_KEYS"]),
        hang_on=env.get("PROBE_HANG_ON") or None,
        **json.loads(env.get("PROBE_SETTINGS") or "{}"),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(service):
        print("probe: running", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())

"""`python -m shared.devstack run`: what `make run` starts; Ctrl-C stops everything, in order."""

from __future__ import annotations

import signal
import sys
import threading
import warnings

from shared.devstack.stack import StackConfig, SuiteStack


def main() -> None:
    if sys.argv[1:] not in ([], ["run"]):
        sys.exit("usage: python -m shared.devstack [run]")
    warnings.filterwarnings("ignore", module="platformdirs")
    stop_requested = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_requested.set())
    stack = SuiteStack(StackConfig.from_env(), say=lambda line: print(line, flush=True))
    code = 0
    try:
        stack.start()
        print("The suite is running. Press Ctrl-C to stop it.", flush=True)
        while not stop_requested.wait(0.5):
            if crashed := stack.crashed():
                print(f"stopping: {', '.join(crashed)} exited unexpectedly", flush=True)
                code = 1
                break
    except Exception as exc:
        print(f"could not start the suite: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("stopping the suite…", flush=True)
        stack.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()

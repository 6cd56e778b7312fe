"""`python -m payments.sandbox`: serve the sandbox gateway on SANDBOX_HOST:SANDBOX_PORT."""

import logging

import uvicorn

from payments.sandbox.app import create_app
from payments.sandbox.settings import SandboxSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SandboxSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()

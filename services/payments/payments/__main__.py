"""`python -m payments [serve|migrate]`."""

from shared.service import main

from payments.entrypoints.app import build

if __name__ == "__main__":
    main(build)

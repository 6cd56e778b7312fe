"""`python -m disputes [serve|migrate]`."""

from shared.service import main

from disputes.entrypoints.app import build

if __name__ == "__main__":
    main(build)

"""`python -m escrow [serve|migrate]`."""

from shared.service import main

from escrow.entrypoints.app import build

if __name__ == "__main__":
    main(build)

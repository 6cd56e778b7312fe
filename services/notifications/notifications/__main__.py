"""`python -m notifications [serve|migrate]`."""

from shared.service import main

from notifications.entrypoints.app import build

if __name__ == "__main__":
    main(build)

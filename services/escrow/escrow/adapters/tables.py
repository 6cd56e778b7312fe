"""The escrow service's own tables (the outbox and inbox come from `shared`)."""

from shared.db import new_metadata

metadata = new_metadata()

"""The escrow service's handlers: load the aggregate, call the domain, save, emit."""

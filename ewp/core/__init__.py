"""The core: the data contract, the config, errors, settings, provenance, the
protective marking, atomic output, progress events and the time grid.

Every room may import it; it imports no other room."""

"""mpq-core: rate accounting, records and run store, plugin registries, and the sweep engine."""

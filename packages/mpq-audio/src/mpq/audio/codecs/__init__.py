"""Audio codecs: one module per family, each class registered by an entry point."""

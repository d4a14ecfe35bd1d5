"""mpq-image: image codecs, tasks and similarity metrics, plugged into mpq-core."""

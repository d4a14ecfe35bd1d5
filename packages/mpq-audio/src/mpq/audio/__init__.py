"""mpq-audio: audio codecs, tasks and similarity metrics, plugged into mpq-core."""

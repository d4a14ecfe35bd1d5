"""Image tasks: each runs a model on decoded images and returns per-item statistics."""

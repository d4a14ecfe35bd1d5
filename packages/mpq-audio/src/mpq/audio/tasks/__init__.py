"""Audio tasks: speech recognition and music source separation."""

"""The report's defaults that its command line shows, in a module that imports nothing, so that
`mpq-report --help` loads without numpy, pyarrow, matplotlib or the BD interpolation."""

METHODS = ("akima", "pchip")  # Bjontegaard interpolations: Akima (the default) or PCHIP
DEFAULT_MIN_OVERLAP = 0.0  # any overlap of two curves will do for a BD delta
DEFAULT_COUNT = 3  # items in the grid of decoded examples

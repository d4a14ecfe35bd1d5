"""mpq-report: plots, tables and BD-rates from run directories, with no modality package."""

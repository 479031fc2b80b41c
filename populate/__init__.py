"""Running the pipeline: the command line, workers, the demo, status and reports."""

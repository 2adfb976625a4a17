"""bin/bench: the pipeline's throughput, latency and footprint against raw baselines measured in the same run."""

"""The bill: FOCUS 1.2 cost and usage rows of the simulated workload (export and cost.usage events)."""

"""The payout worker: plan, materialise and pay jobs in batches, waking when work arrives."""

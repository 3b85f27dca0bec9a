"""What the service tells its operators: Prometheus metrics and log formatting."""

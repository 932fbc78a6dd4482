"""Plain data and helpers every layer shares: labels, chart pins, the metrics contract, webhook ports,
traffic rules, quota costs and scheduling. Nothing here registers a resource."""

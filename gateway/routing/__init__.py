"""Which provider and model serve a request (the full rule engine arrives with the control plane)."""

"""What the request path reads of the control plane (current state the admin writers in
gateway/admin/ recorded in the vault); nothing here writes."""

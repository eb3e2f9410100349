"""One router per resource; ``api.main`` mounts each of them."""

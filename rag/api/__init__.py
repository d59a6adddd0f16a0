"""The HTTP API: a FastAPI app factory and one router per resource."""

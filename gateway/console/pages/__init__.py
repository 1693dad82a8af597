"""One module per console page (a FastAPI router each)."""

"""pytest fixtures for the local Azure stack (filled in by the stack orchestration)."""

"""Small shared helpers: atomic file writes, safe checkpoints, summary statistics."""

"""IR -> IR transformations."""

"""Customer lifetime value checked against published CDNOW results."""

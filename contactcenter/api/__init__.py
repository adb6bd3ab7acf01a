"""The versioned JSON API (/api/v1): handlers validate input, call an action, answer JSON."""

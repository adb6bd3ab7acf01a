"""Domain layer: pure business rules and value types."""

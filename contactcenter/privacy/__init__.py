"""Data protection: encryption at rest with a key per contact, export, erasure, retention."""

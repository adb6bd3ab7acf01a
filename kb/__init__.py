"""Knowledge base: text normalization, article search and suggestions."""

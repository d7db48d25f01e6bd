"""Count lines, words and characters in text."""

__version__ = "0.1.0"

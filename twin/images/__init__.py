"""The node image: its recipe and tag, and how it is built."""

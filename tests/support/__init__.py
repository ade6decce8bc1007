"""Helpers for live tests: free ports, echo backends, nginx instances, a raw HTTP client."""

"""Stand-ins for external APIs, one per API, each derived from what the platform publishes."""

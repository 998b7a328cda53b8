# tests/integration: filled in by the integration tests

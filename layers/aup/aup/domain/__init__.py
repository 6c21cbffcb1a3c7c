"""The domain: models, the ladder (engine), the ports the use cases talk to. Imports nothing above it."""

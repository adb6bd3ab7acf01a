"""Channel adapters: each translates a provider's payloads to InboundMessage and OutboundMessage to calls."""

"""The live web chat: an embeddable widget talking to the server over WebSocket."""

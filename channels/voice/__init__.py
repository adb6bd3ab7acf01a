"""Phone calls through Twilio Voice: signed webhooks answering TwiML, the call log, call-backs."""

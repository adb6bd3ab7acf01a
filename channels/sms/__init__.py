"""Twilio SMS/MMS: a signed inbound webhook, delivery reports, opt-outs, replies through the twilio client."""

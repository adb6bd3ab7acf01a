"""Telegram: our own webhook route (store, then 200), a polling mode, replies through python-telegram-bot."""

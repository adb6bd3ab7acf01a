"""Outbound webhooks: other systems (CRM, accounting) told about events by signed HTTP POSTs.

``fanout`` turns relayed outbox events into delivery rows, ``sender`` posts them with retries and a
dead state, ``guard`` refuses private targets, ``signing`` is what receivers verify.
"""

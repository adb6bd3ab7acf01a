"""Whether a ``notify_customer`` escalation step may send the customer an update, and why not (pure).

The update is a public system message on the ticket's own channel; it is sent only when the customer is really
waiting on us and can receive it:

- ``merged``: the ticket was merged into another one (that one has its own clocks);
- ``not_waiting_on_us``: the ticket is not new or open (pending/on hold: we wait on the customer; solved, closed);
- ``clock_not_running``: the clock of the step has been met, stopped or paused since its point was computed
  (a breach recorded late, after the reply);
- ``internal_only``: the ticket holds no message from the customer (opened by staff for internal work): there is
  nobody waiting for an answer;
- ``channel_cannot_receive``: the channel takes no automatic written message (``sla.customer_update_channels``;
  by default voice, in-person, letters and fax do not);
- ``no_address``: the contact has no address on the channel (e.g. no e-mail address on an e-mail ticket);
- ``opted_out``: the customer's number asked us to stop sending SMS.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from contactcenter.domain.enums import IdentityKind, TicketStatus

# The identity a channel's sender writes to; channels not listed here need none (portal page, chat session).
ADDRESS_KIND = {"email": IdentityKind.EMAIL, "sms": IdentityKind.PHONE, "telegram": IdentityKind.TELEGRAM}
WAITING_ON_US = frozenset({TicketStatus.NEW.value, TicketStatus.OPEN.value})


@dataclass(frozen=True, slots=True)
class UpdateFacts:
    channel: str
    status: str
    merged: bool
    clock_running: bool
    customer_wrote: bool  # a message from the contact is on the ticket
    address_kinds: frozenset[str]  # the kinds of the contact's identities
    opted_out: bool = False  # SMS: the number the update would go to opted out


def skip_reason(facts: UpdateFacts, channels: Collection[str]) -> str | None:
    """None when the update is to be sent; otherwise why not (recorded in the audit row)."""
    if facts.merged:
        return "merged"
    if facts.status not in WAITING_ON_US:
        return "not_waiting_on_us"
    if not facts.clock_running:
        return "clock_not_running"
    if not facts.customer_wrote:
        return "internal_only"
    if facts.channel not in channels:
        return "channel_cannot_receive"
    kind = ADDRESS_KIND.get(facts.channel)
    if kind is not None and kind.value not in facts.address_kinds:
        return "no_address"
    if facts.opted_out:
        return "opted_out"
    return None

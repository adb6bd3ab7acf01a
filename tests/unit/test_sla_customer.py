"""When a notify_customer step may send the customer an update, and why not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contactcenter.settings import CUSTOMER_UPDATE_TEXT, SettingsError, SlaSettings
from contactcenter.sla.customer import UpdateFacts, skip_reason

CHANNELS = SlaSettings().customer_update_channels
WAITING = UpdateFacts(channel="email", status="open", merged=False, clock_running=True, customer_wrote=True,
                      address_kinds=frozenset({"email"}))


def test_an_open_ticket_whose_customer_waits_gets_the_update() -> None:
    assert skip_reason(WAITING, CHANNELS) is None
    assert skip_reason(replace(WAITING, status="new"), CHANNELS) is None
    assert skip_reason(replace(WAITING, channel="webform", address_kinds=frozenset()), CHANNELS) is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"merged": True}, "merged"),
    ({"status": "pending"}, "not_waiting_on_us"),
    ({"status": "on-hold"}, "not_waiting_on_us"),
    ({"status": "solved"}, "not_waiting_on_us"),
    ({"clock_running": False}, "clock_not_running"),
    ({"customer_wrote": False}, "internal_only"),
    ({"channel": "voice"}, "channel_cannot_receive"),
    ({"channel": "in_person"}, "channel_cannot_receive"),
    ({"channel": "fax"}, "channel_cannot_receive"),
    ({"address_kinds": frozenset({"phone"})}, "no_address"),
    ({"channel": "sms", "address_kinds": frozenset({"phone"}), "opted_out": True}, "opted_out"),
    ({"channel": "telegram"}, "no_address"),
])
def test_reasons_not_to_send(change: dict[str, object], reason: str) -> None:
    assert skip_reason(replace(WAITING, **change), CHANNELS) == reason  # type: ignore[arg-type]


def test_the_channels_are_configurable() -> None:
    assert skip_reason(WAITING, ("sms",)) == "channel_cannot_receive"


def test_the_text_follows_the_ticket_language() -> None:
    sla = SlaSettings()
    assert sla.customer_update("fa-IR", 42) == CUSTOMER_UPDATE_TEXT["fa"].replace("{ticket}", "42")
    assert sla.customer_update("de", 42).startswith("Hello,") and "#42" in sla.customer_update("", 42)
    with pytest.raises(SettingsError):
        SlaSettings(customer_update_text={"fa": "سلام"})

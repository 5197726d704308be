"""A device's checks of CS06 / CS08 and its responses (`hubfw.gbcs.device_commands`) against the RTDS messages.

The RTDS publishes no device private keys, but ECDH is symmetric: a "device" holding the ACB's private KA key and
trusting the RTDS ESME's public one derives the very MAC key the ESME would, so the RTDS commands can be received as
the RTDS device would receive them."""

from __future__ import annotations

import datetime

import pytest

from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.gbcs.ciphering import MacedMessage, check_mac
from hubfw.gbcs.device_commands import (
    ActivateCommand,
    ActivationCode,
    CommandReceiver,
    CommandRefused,
    DeviceGbcsKeys,
    ReadVersionCommand,
    dlms_date_time,
)
from hubfw.gbcs.framing import GeneralSigning
from hubfw.gbcs.signing import verify
from hubfw.ota.keys import new_private_key
from tests.gbcs.rtds import ACB, ESME, PPMID, RTDS, SUPPLIER, message

KEYS = GbcsKeys.load(RTDS / "keys")
NEW_YEAR_2015 = datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc).timestamp()


def receiver(entity: bytes, ds_key=None) -> CommandReceiver:
    return CommandReceiver(DeviceGbcsKeys(entity, ds_key or new_private_key(), KEYS.acb_ka, ACB,
                                          KEYS.public(entity, "ka"), SUPPLIER, KEYS.public(SUPPLIER, "ds")))


def test_the_rtds_cs06_is_accepted_once_and_the_response_is_the_rtds_one_up_to_its_signature() -> None:
    device = receiver(ESME)
    command = device.receive(message("cs06-activate-command"))
    assert isinstance(command, ActivateCommand)
    assert command.content.originator_counter == 1000 and command.message.originator_counter == 1000
    with pytest.raises(CommandRefused, match="not above 1000"):
        device.receive(message("cs06-activate-command"))

    response = device.activate_response(command, ActivationCode.SUCCESS, 0x0123ABCE, dlms_date_time(NEW_YEAR_2015))
    rtds = GeneralSigning.parse(message("cs06-activate-response"))
    assert GeneralSigning.parse(response).signed_span() == rtds.signed_span()
    assert verify(response, device.keys.ds_key.public_key())
    assert verify(rtds, KEYS.public(ESME, "ds"))


def test_the_rtds_cs08_is_accepted_and_the_response_is_the_rtds_one_but_for_its_mac() -> None:
    device = receiver(PPMID)
    command = device.receive(message("cs08-read-version-command"))
    assert isinstance(command, ReadVersionCommand)
    response = device.read_version_response(command, 0x0123ABCD)
    rtds = message("cs08-read-version-response")
    assert MacedMessage.parse(response).general_signing == MacedMessage.parse(rtds).general_signing
    # the "device" here holds the ACB's key, so its MAC is the one the RTDS PPMID made: the same octets
    assert response == rtds and check_mac(response, KEYS.acb_ka, KEYS.public(PPMID, "ka"))


def test_commands_for_another_device_or_from_the_wrong_party_are_refused() -> None:
    with pytest.raises(CommandRefused, match="not to this device"):
        receiver(PPMID).receive(message("cs06-activate-command"))
    with pytest.raises(CommandRefused, match="not a MAC'd GBCS command"):
        receiver(ESME).receive(message("cs06-activate-response"))
    bad = bytearray(message("cs06-activate-command"))
    bad[-1] ^= 0x80
    with pytest.raises(CommandRefused, match="MAC does not check"):
        receiver(ESME).receive(bytes(bad))


def test_dlms_date_time_is_the_rtds_form() -> None:
    assert dlms_date_time(NEW_YEAR_2015).hex().upper() == "07DF0101FF000000008000FF"

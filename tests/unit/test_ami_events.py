"""What AMI listeners receive: panoramisk's Message as a plain dict of strings (ivr/ami/client.py)."""

from __future__ import annotations

from panoramisk.message import Message

from ivr.ami.client import _plain


def test_an_event_reaches_listeners_as_a_plain_dict_of_its_own_keys_and_strings() -> None:
    message = Message(
        {"Event": "QueueCallerJoin", "Queue": "q112", "Position": 1, "ChanVariable": ["SIAGA_CONSULT=", "X=1"]}
    )
    fields = _plain(message)
    assert type(fields) is dict
    assert fields == {str(key): str(value) for key, value in message.items()}
    assert (fields["Event"], fields["Queue"], fields["Position"]) == ("QueueCallerJoin", "q112", "1")
    assert fields["ChanVariable"] == "['SIAGA_CONSULT=', 'X=1']"  # a repeated header, as before
    fields["Queue"] = "changed by a listener"
    assert message["queue"] == "q112"


def test_any_mapping_without_panoramisk_s_store_is_read_through_its_items() -> None:
    class Other(dict[str, object]):
        pass

    assert _plain(Other(Event="Hangup", Cause=16)) == {"Event": "Hangup", "Cause": "16"}  # type: ignore[arg-type]

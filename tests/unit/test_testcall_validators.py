"""The test call's inputs: keys and caller number are checked before anything reaches Asterisk."""

from __future__ import annotations

from typing import cast

import pytest

from ivr.ami import testcall
from ivr.ami.client import AmiClient
from ivr.ami.testcall import place_call

# place_call validates before it touches the client, so a client that cannot do anything is enough.
UNUSABLE = cast(AmiClient, object())


@pytest.mark.parametrize("keys", ["1\n", "1\r\n", "\n", "1 2", "a", "1w"])
async def test_keys_outside_the_keypad_are_refused(keys: str) -> None:
    """Keys are 0-9 * # only; a trailing newline is refused like any other character."""
    with pytest.raises(testcall.TestCallError, match="keys must be"):
        await place_call(UNUSABLE, keys=keys)


@pytest.mark.parametrize("caller", ["0812\n", "0812\r\n", "+62\n", "08 12", "1" * 21, "++62"])
async def test_callers_that_are_not_numbers_are_refused(caller: str) -> None:
    """A caller is an optional + and up to 20 digits; a trailing newline is refused."""
    with pytest.raises(testcall.TestCallError, match="caller must be"):
        await place_call(UNUSABLE, keys="1", caller=caller)

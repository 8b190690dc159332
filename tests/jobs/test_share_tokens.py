"""Share tokens: signed under the first key of SECRET_KEY and read under any listed key, never
taken for a download link's token (nor the other way round), and only in ASCII digits."""

from __future__ import annotations

import time

from integrations import export
from jobs import share
from storage.crypto import generate_key

SID = "0123456789abcdef"


def test_a_link_survives_a_new_key_put_in_front_and_dies_with_its_key() -> None:
    old, new = generate_key(), generate_key()
    token = share.sign(export.link_key(old), 3, 7, SID)
    assert share.verify(export.link_key(f"{new},{old}"), token) == (3, 7, SID)
    assert share.verify(export.link_key(new), token) is None
    # Signed with the first listed key, so it outlives the old one's removal.
    fresh = share.sign(export.link_key(f"{new},{old}"), 3, 7, SID)
    assert share.verify(export.link_key(new), fresh) == (3, 7, SID)


def test_share_and_download_tokens_are_not_interchangeable() -> None:
    keys = export.link_key(generate_key())
    download = export.sign(keys, 3, 7, int(time.time()) + 3600)
    assert share.verify(keys, download) is None
    # A share token whose share id happened to be all digits is still no download link.
    digits = share.sign(keys, 3, 7, "1234567890123456")
    assert share.verify(keys, digits) == (3, 7, "1234567890123456")
    assert export.verify(keys, digits) is None


def test_only_the_exact_spelling_of_a_token_opens_it() -> None:
    keys = export.link_key(generate_key())
    token = share.sign(keys, 3, 7, SID)
    ws, rec, sid, mac = token.split(".")
    for spelling in (
        f"٣.{rec}.{sid}.{mac}",  # Arabic-Indic digits read as 3 by int()
        f"03.{rec}.{sid}.{mac}",
        f"{ws}.{rec}.{sid.upper()}.{mac}",
        f"{ws}.{rec}.{sid}.{mac}=",
        f"{ws}.{rec}.{sid}",
        "",
    ):
        assert share.verify(keys, spelling) is None, spelling

"""A download link already sent keeps working when a new key is put in front of SECRET_KEY."""

from __future__ import annotations

import time

import httpx

from integrations import export
from storage.crypto import generate_key
from tests.conftest import running
from tests.jobs.conftest import World


async def test_a_link_sent_before_a_new_key_still_downloads(world: World) -> None:
    old = world.settings.secret_key
    assert old is not None
    small = world.settings.model_copy(update={"cloud_upload_limit_mb": 0.5})
    async with running(small, world.telegram):
        await world.publish(["export"])
        await world.links_message()
        url = (await world.publications())["export"].url
    assert url is not None

    rotated = small.model_copy(
        update={"secret_key": type(old)(f"{generate_key()},{old.get_secret_value()}")}
    )
    async with running(rotated, world.telegram), httpx.AsyncClient() as http:
        download = await http.get(url)
    assert download.status_code == 200
    assert download.content == (world.folder / export.ARCHIVE).read_bytes()


def test_links_are_signed_with_the_first_key_and_opened_with_any() -> None:
    new, old, unknown = generate_key(), generate_key(), generate_key()
    expires = int(time.time()) + 60
    before = export.sign(export.link_key(old), 3, 14, expires)
    after = export.sign(export.link_key(f"{new},{old}"), 3, 14, expires)

    assert export.verify(export.link_key(f"{new},{old}"), before) == (3, 14)
    assert export.verify(export.link_key(f" {new} , {old} "), before) == (3, 14)
    assert export.verify(export.link_key(new), after) == (3, 14)
    assert export.verify(export.link_key(old), after) is None
    assert export.verify(export.link_key(unknown), before) is None
    assert export.verify(export.link_key(f"{unknown},{new}"), before) is None


def test_a_link_signed_under_the_whole_key_list_still_opens() -> None:
    import base64
    import hashlib
    import hmac

    # How links were signed before each listed key had a link key of its own.
    listed = f"{generate_key()},{generate_key()}"
    key = hmac.new(listed.encode(), b"leap export links v1", hashlib.sha256).digest()
    body = f"3.14.{int(time.time()) + 60}"
    mac = hmac.new(key, f"export:{body}".encode(), hashlib.sha256).digest()
    token = f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert export.verify(export.link_key(listed), token) == (3, 14)

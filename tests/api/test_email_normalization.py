"""Emails: one account per mailbox, however its address is spelled.

Every place an email is stored or compared uses one form (Unicode NFC, lower case, the domain
as its IDNA A-label), so a decomposed (NFD) or composed (NFC) spelling, any case, and a domain
in Unicode or in punycode all name the same account.
"""

from __future__ import annotations

import unicodedata

import pytest
from httpx import AsyncClient

from src.models.user import EMAIL_MAX_LENGTH
from src.services import messages
from src.services.errors import Invalid
from src.services.users import normalize_email
from tests.factories import DEFAULT_PASSWORD, auth, log_in, register, unique


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _spellings(local: str) -> dict[str, str]:
    """One mailbox, spelled every way a client may send it."""
    nfc = f"{local}jöhn@bücher.de"
    return {
        "nfd": _nfd(nfc),
        "nfc": nfc,
        "upper-case domain": f"{local}jöhn@BÜCHER.DE",
        "upper-case": nfc.upper(),
        "punycode domain": f"{local}jöhn@xn--bcher-kva.de",
        "punycode, nfd and upper-case": _nfd(f"{local}JÖHN@XN--BCHER-KVA.DE"),
    }


async def test_registration_stores_the_one_normalized_form(client: AsyncClient) -> None:
    local = unique("n")
    email = _spellings(local)["nfd"]

    response = await client.post(
        "/api/users",
        json={"user": {"username": local, "email": email, "password": DEFAULT_PASSWORD}},
    )

    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == f"{local}jöhn@xn--bcher-kva.de"


@pytest.mark.parametrize("spelling", list(_spellings("")))
async def test_every_spelling_of_a_registered_email_logs_in_as_its_owner(
    client: AsyncClient, spelling: str
) -> None:
    local = unique("n")
    owner = await register(client, username=local, email=_spellings(local)["nfd"])

    response = await log_in(client, _spellings(local)[spelling], owner.password)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == owner.username


@pytest.mark.parametrize("spelling", ["nfc", "upper-case", "punycode domain"])
async def test_registering_another_spelling_of_a_taken_email_is_refused(
    client: AsyncClient, spelling: str
) -> None:
    local = unique("n")
    await register(client, username=local, email=_spellings(local)["nfd"])

    response = await client.post(
        "/api/users",
        json={
            "user": {
                "username": unique("other"),
                "email": _spellings(local)[spelling],
                "password": DEFAULT_PASSWORD,
            }
        },
    )

    assert response.status_code in {409, 422}, response.text
    assert response.json()["errors"]["email"] == [messages.TAKEN]


async def test_changing_to_another_spelling_of_a_taken_email_is_refused(
    client: AsyncClient,
) -> None:
    local = unique("n")
    await register(client, username=local, email=_spellings(local)["nfd"])
    other = await register(client)

    response = await client.put(
        "/api/user",
        json={"user": {"email": _spellings(local)["punycode domain"]}},
        headers=other.headers,
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"]["email"] == [messages.TAKEN]


async def test_changing_the_email_stores_the_normalized_form(client: AsyncClient) -> None:
    jake = await register(client)
    local = unique("n")

    response = await client.put(
        "/api/user", json={"user": {"email": _spellings(local)["nfd"]}}, headers=jake.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == f"{local}jöhn@xn--bcher-kva.de"
    login = await log_in(client, _spellings(local)["upper-case"], jake.password)
    assert login.status_code == 200, login.text
    me = await client.get("/api/user", headers=auth(login.json()["user"]["token"]))
    assert me.json()["user"]["username"] == jake.username


@pytest.mark.parametrize(
    "email",
    [
        # Fits the bound as sent, outgrows it once normalized (İ lower-cases to two characters).
        "İ" * (EMAIL_MAX_LENGTH - len("@x.de")) + "@x.de",
        # The most a login accepts, all of it decomposed characters to compose.
        _nfd("é") * (EMAIL_MAX_LENGTH // 2 - 3) + "@x.de",
    ],
    ids=["outgrows-the-bound", "longest-decomposed"],
)
async def test_a_login_with_an_email_at_the_maximum_size_is_a_clear_4xx(
    client: AsyncClient, email: str
) -> None:
    response = await log_in(client, email, DEFAULT_PASSWORD)

    assert response.status_code in {401, 422}, response.text
    assert set(response.json()["errors"]) <= {"email", "credentials"}


def test_the_normalized_form_is_stable() -> None:
    for email in [*_spellings("a").values(), "ẞ@straße.de", "ΣΑΣ@x.gr", "x@a_b.cö", "no-at-ä"]:
        once = normalize_email(email)
        assert normalize_email(once) == once


def test_an_email_longer_than_the_bound_is_refused_before_it_is_normalized() -> None:
    with pytest.raises(Invalid, match="is too long") as refused:
        normalize_email("ä" * (EMAIL_MAX_LENGTH + 1))

    assert refused.value.field == "email"

"""Profiles and following, through HTTP."""

from __future__ import annotations

from httpx import AsyncClient

from tests.api.article_helpers import PROFILE_KEYS, assert_error, assert_unauthorized
from tests.factories import follow, register, unique


async def test_an_anonymous_visitor_sees_a_profile_with_following_false(
    client: AsyncClient,
) -> None:
    jake = await register(client)

    response = await client.get(f"/api/profiles/{jake.username}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "profile": {"username": jake.username, "bio": None, "image": None, "following": False}
    }


async def test_a_follower_sees_following_true_and_someone_else_sees_false(
    client: AsyncClient,
) -> None:
    jake, fan, stranger = await register(client), await register(client), await register(client)
    await follow(client, fan, jake.username)

    as_fan = await client.get(f"/api/profiles/{jake.username}", headers=fan.headers)
    as_stranger = await client.get(f"/api/profiles/{jake.username}", headers=stranger.headers)

    assert as_fan.status_code == 200
    assert as_fan.json()["profile"]["following"] is True
    assert as_stranger.json()["profile"]["following"] is False


async def test_a_profile_shows_the_bio_and_image_the_user_set(client: AsyncClient) -> None:
    jake = await register(client)
    updated = await client.put(
        "/api/user",
        json={"user": {"bio": "I work at statefarm", "image": "https://example.com/jake.png"}},
        headers=jake.headers,
    )
    assert updated.status_code == 200, updated.text

    profile = (await client.get(f"/api/profiles/{jake.username}")).json()["profile"]

    assert profile["bio"] == "I work at statefarm"
    assert profile["image"] == "https://example.com/jake.png"


async def test_an_unknown_username_is_404_in_the_error_envelope(client: AsyncClient) -> None:
    response = await client.get(f"/api/profiles/{unique('nobody')}")

    assert_error(response, 404, "profile", "not found")
    assert set(response.json()) == {"errors"}


async def test_usernames_are_looked_up_regardless_of_case(client: AsyncClient) -> None:
    jake = await register(client, username=unique("JakeMixed"))

    upper = await client.get(f"/api/profiles/{jake.username.upper()}")
    lower = await client.get(f"/api/profiles/{jake.username.lower()}")

    assert upper.status_code == lower.status_code == 200
    # The display spelling is the one the user registered with.
    assert upper.json()["profile"]["username"] == jake.username
    assert lower.json()["profile"]["username"] == jake.username


async def test_following_a_user_returns_their_profile_with_following_true(
    client: AsyncClient,
) -> None:
    jake, fan = await register(client), await register(client)

    response = await client.post(f"/api/profiles/{jake.username}/follow", headers=fan.headers)

    assert response.status_code == 200
    profile = response.json()["profile"]
    assert set(profile) == PROFILE_KEYS
    assert profile["username"] == jake.username
    assert profile["following"] is True
    again = await client.get(f"/api/profiles/{jake.username}", headers=fan.headers)
    assert again.json()["profile"]["following"] is True


async def test_following_twice_is_the_same_as_following_once(client: AsyncClient) -> None:
    jake, fan = await register(client), await register(client)
    await follow(client, fan, jake.username)

    second = await client.post(f"/api/profiles/{jake.username}/follow", headers=fan.headers)

    assert second.status_code == 200
    assert second.json()["profile"]["following"] is True
    unfollowed = await client.delete(f"/api/profiles/{jake.username}/follow", headers=fan.headers)
    assert unfollowed.json()["profile"]["following"] is False
    # One unfollow undoes both follows: only one follow row was ever written.
    after = await client.get(f"/api/profiles/{jake.username}", headers=fan.headers)
    assert after.json()["profile"]["following"] is False


async def test_following_by_a_differently_cased_username_follows_that_user(
    client: AsyncClient,
) -> None:
    jake, fan = await register(client, username=unique("JakeCase")), await register(client)

    response = await client.post(
        f"/api/profiles/{jake.username.lower()}/follow", headers=fan.headers
    )

    assert response.status_code == 200
    assert response.json()["profile"]["username"] == jake.username
    profile = await client.get(f"/api/profiles/{jake.username}", headers=fan.headers)
    assert profile.json()["profile"]["following"] is True


async def test_unfollowing_returns_following_false_and_is_idempotent(client: AsyncClient) -> None:
    jake, fan = await register(client), await register(client)
    await follow(client, fan, jake.username)

    first = await client.delete(f"/api/profiles/{jake.username}/follow", headers=fan.headers)
    second = await client.delete(f"/api/profiles/{jake.username}/follow", headers=fan.headers)

    assert first.status_code == second.status_code == 200
    assert first.json()["profile"]["following"] is False
    assert second.json()["profile"]["following"] is False
    profile = await client.get(f"/api/profiles/{jake.username}", headers=fan.headers)
    assert profile.json()["profile"]["following"] is False


async def test_unfollowing_someone_never_followed_succeeds(client: AsyncClient) -> None:
    jake, stranger = await register(client), await register(client)

    response = await client.delete(
        f"/api/profiles/{jake.username}/follow", headers=stranger.headers
    )

    assert response.status_code == 200
    assert response.json()["profile"] == {
        "username": jake.username,
        "bio": None,
        "image": None,
        "following": False,
    }


async def test_following_yourself_is_rejected_with_422(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post(f"/api/profiles/{jake.username}/follow", headers=jake.headers)

    assert_error(response, 422, "username", "cannot follow yourself")
    profile = await client.get(f"/api/profiles/{jake.username}", headers=jake.headers)
    assert profile.json()["profile"]["following"] is False


async def test_following_or_unfollowing_an_unknown_user_is_404(client: AsyncClient) -> None:
    fan = await register(client)
    nobody = unique("nobody")

    followed = await client.post(f"/api/profiles/{nobody}/follow", headers=fan.headers)
    unfollowed = await client.delete(f"/api/profiles/{nobody}/follow", headers=fan.headers)

    assert_error(followed, 404, "profile", "not found")
    assert_error(unfollowed, 404, "profile", "not found")


async def test_following_or_unfollowing_without_a_token_is_401(client: AsyncClient) -> None:
    jake = await register(client)

    followed = await client.post(f"/api/profiles/{jake.username}/follow")
    unfollowed = await client.delete(f"/api/profiles/{jake.username}/follow")

    assert_unauthorized(followed)
    assert_unauthorized(unfollowed)


async def test_following_with_a_bad_token_is_401(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post(
        f"/api/profiles/{jake.username}/follow", headers={"Authorization": "Token not-a-jwt"}
    )

    assert_error(response, 401, "token", "is invalid or expired")

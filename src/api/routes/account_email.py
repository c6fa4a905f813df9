"""The account's address: password reset by e-mail, and verifying the address."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from src.api import ratelimits
from src.api.deps import OpenSessionDep, SettingsDep, UnheldUser
from src.api.error_docs import error_responses
from src.api.schemas.account_email import (
    PasswordResetConfirmRequest,
    PasswordResetRequest,
    VerifyEmailRequest,
)
from src.services import account_email, messages
from src.services.errors import Invalid
from src.services.users import normalize_email

router = APIRouter(tags=["User and Authentication"])

_TOKEN_REFUSED = Invalid(messages.ACCOUNT_TOKEN_INVALID, field="token")


@router.post(
    "/users/password-reset",
    operation_id="RequestPasswordReset",
    summary="Mail a password reset link",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=error_responses(413, 422),
)
async def request_password_reset(
    payload: PasswordResetRequest, request: Request, open_session: OpenSessionDep
) -> None:
    """Always 202, whether or not an account has this address: if one does, a single-use
    link (and code) valid for `PASSWORD_RESET_TTL_SECONDS` is mailed to it."""
    email = payload.user.email
    await ratelimits.limit_password_reset(request, email)
    await account_email.request_password_reset(open_session, normalize_email(email))


@router.post(
    "/users/password-reset/confirm",
    operation_id="ConfirmPasswordReset",
    summary="Set a new password with a reset token",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(_TOKEN_REFUSED, 413),
)
async def confirm_password_reset(
    payload: PasswordResetConfirmRequest,
    request: Request,
    open_session: OpenSessionDep,
    settings: SettingsDep,
) -> None:
    """Sets the password and ends every session of the account (log in again). The token
    works once, and not after the password changed or it expired (422 under `token`)."""
    await ratelimits.limit_mailed_tokens(request)
    body = payload.user
    await account_email.reset_password(open_session, settings, body.token, body.password)


@router.post(
    "/users/verify-email",
    operation_id="VerifyEmail",
    summary="Confirm an e-mail address with the token mailed to it",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(_TOKEN_REFUSED, 413),
)
async def verify_email(
    payload: VerifyEmailRequest, request: Request, open_session: OpenSessionDep
) -> None:
    """The address the token was mailed to is verified (`emailVerified` in the user); for an
    e-mail change awaiting confirmation, it becomes the account's address. The token works
    once (422 under `token` otherwise; under `email` if the new address was taken since)."""
    await ratelimits.limit_mailed_tokens(request)
    await account_email.verify_email(open_session, payload.user.token)


@router.post(
    "/user/verify-email",
    operation_id="ResendVerificationEmail",
    summary="Mail a new verification link to the current address",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=error_responses(401),
)
async def resend_verification(
    request: Request, user: UnheldUser, open_session: OpenSessionDep, settings: SettingsDep
) -> None:
    """Nothing is sent when the address is verified already."""
    await ratelimits.limit_verification_mail(request, user.id)
    await account_email.resend_verification(open_session, settings, user)

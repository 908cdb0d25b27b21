"""Logging in and out with email and password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from opsyard.api.deps import (
    SESSION_EPOCH_KEY,
    SESSION_USER_KEY,
    DbSession,
    Portal,
    optional_principal,
)
from opsyard.auth import users
from opsyard.errors import OpsyardError
from opsyard_web.forms import FormState, safe_next
from opsyard_web.rendering import render

router = APIRouter()


@router.get("/login")
def login_form(
    request: Request,
    session: DbSession,
    next_path: Annotated[str, Query(alias="next")] = "/",
) -> Response:
    if optional_principal(request, session) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    form = FormState(values={"next": safe_next(next_path)})
    return render(request, "login.html", {"form": form}, session=session)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    portal: Portal,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    settings = portal.settings
    try:
        user = users.authenticate(
            session,
            email=email,
            password=password,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
        )
    except OpsyardError as exc:
        # Answered rather than raised, so the transaction commits the failure count that
        # drives the lockout.
        form = FormState.failed(exc, {"email": email, "next": safe_next(next_path)})
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return render(
            request,
            "login.html",
            {"form": form},
            status_code=exc.error.status,
            session=session,
            headers=headers,
        )
    # A fresh session: nothing from before the login (an attacker's planted values included)
    # survives into the signed-in one.
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    request.session[SESSION_EPOCH_KEY] = user.session_epoch
    return RedirectResponse(safe_next(next_path), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)

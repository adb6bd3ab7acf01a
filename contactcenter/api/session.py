"""Sign-in endpoints: password login (session cookie + CSRF token), logout, me, API tokens."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from contactcenter import auth
from contactcenter.api.framework import SESSION_COOKIE, Api, ApiRequest, error_response, json_response
from contactcenter.api.schemas.auth import LoginIn, LoginOut, PasswordIn, TokenIn, TokenOut, UserOut
from contactcenter.db.models import ApiToken, User
from contactcenter.domain.enums import Role
from contactcenter.errors import NotFound

api = Api()


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, role=Role(user.role))


@api.route("POST", "/auth/login", summary="Sign in with e-mail and password; sets the session cookie",
           tag="auth", role=None, body=LoginIn, response=LoginOut, responses={429: "too many failed sign-ins"})
async def login(req: ApiRequest) -> web.StreamResponse:
    body: LoginIn = req.body
    limits, settings = req.ctx.limits, req.ctx.settings
    ip, email = req.request.remote or "?", body.email.strip().lower()
    waits = [limits.login_backoff.wait(email)]
    waits += [limit.retry_after(key) for limit, key in ((limits.login_ip, ip), (limits.login_email, email))
              if limit.blocked(key)]
    if any(waits):
        retry = max(waits)
        return error_response(429, "too_many_attempts", "too many failed sign-ins; try again later",
                              headers={"Retry-After": str(retry)})
    async with req.ctx.db.write() as session:
        user = await auth.authenticate(session, email, body.password)
        if user is None:
            limits.login_ip.hit(ip)
            limits.login_email.hit(email)
            limits.login_backoff.failure(email)
            new = None
        else:
            new = await auth.do_start_session(session, user, settings.auth.session_hours,
                                              replaces=req.request.cookies.get(SESSION_COOKIE))
    if user is None or new is None:
        return error_response(401, "invalid_credentials", "wrong e-mail or password")
    limits.login_backoff.success(email)
    response = json_response(LoginOut(user=user_out(user), csrf_token=new.csrf_token))
    response.set_cookie(SESSION_COOKIE, new.cookie, httponly=True, samesite="Lax", path="/",
                        secure=settings.auth.cookie_secure, max_age=settings.auth.session_hours * 3600)
    return response


@api.route("POST", "/auth/logout", summary="End this browser session", tag="auth")
async def logout(req: ApiRequest) -> web.StreamResponse:
    cookie = req.request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with req.ctx.db.write() as session:
            await auth.do_end_session(session, cookie)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@api.route("GET", "/me", summary="The signed-in user", tag="auth", response=UserOut)
async def me(req: ApiRequest) -> UserOut:
    return user_out(req.user)


@api.route("POST", "/me/password", summary="Change my password; every session of mine ends", tag="auth",
           body=PasswordIn, responses={401: "wrong current password"})
async def change_password(req: ApiRequest) -> web.StreamResponse:
    body: PasswordIn = req.body
    async with req.ctx.db.write() as session:
        user = await session.get(User, req.user.id)
        assert user is not None
        if not auth.verify_password(user.password_hash, body.current_password):
            return error_response(401, "invalid_credentials", "the current password is wrong")
        await auth.do_set_password(session, user, body.new_password, actor=req.actor)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _token_out(token: ApiToken, plain: str | None = None) -> TokenOut:
    return TokenOut(id=token.id, name=token.name, created_at=token.created_at, last_used_at=token.last_used_at,
                    revoked_at=token.revoked_at, expires_at=token.expires_at, token=plain)


@api.route("GET", "/me/tokens", summary="My API tokens", tag="auth", response=TokenOut, list_response=True)
async def list_tokens(req: ApiRequest) -> list[TokenOut]:
    async with req.ctx.db.read() as session:
        tokens = (await session.scalars(select(ApiToken).where(ApiToken.user_id == req.user.id)
                                        .order_by(ApiToken.id))).all()
    return [_token_out(t) for t in tokens]


@api.route("POST", "/me/tokens", summary="Create an API token (its secret is shown once)", tag="auth",
           body=TokenIn, response=TokenOut, status=201)
async def create_token(req: ApiRequest) -> TokenOut:
    body: TokenIn = req.body
    async with req.ctx.db.write() as session:
        user = await session.get(User, req.user.id)
        assert user is not None
        days = body.expires_in_days if body.expires_in_days is not None else req.ctx.settings.auth.token_days
        token, plain = await auth.do_create_token(session, user, body.name, actor=req.actor, days=days)
    return _token_out(token, plain)


@api.route("DELETE", "/me/tokens/{id}", summary="Revoke one of my API tokens", tag="auth")
async def revoke_token(req: ApiRequest) -> dict[str, bool]:
    async with req.ctx.db.write() as session:
        if not await auth.do_revoke_token(session, req.path_id(), req.user.id, actor=req.actor):
            raise NotFound("no such active token of yours")
    return {"ok": True}

"""Invitations: an admin invites a new staff member by e-mail; the link sets their password once."""

from __future__ import annotations

import email.policy
import email.utils
import logging
from email.message import EmailMessage

from aiohttp import web

from channels.email.sender import DeliveryDeferred, EmailSender
from contactcenter.actions import invites as actions
from contactcenter.api.framework import Api, ApiRequest, error_response
from contactcenter.api.schemas.auth import InviteAcceptIn, InviteIn, InviteOut, UserOut
from contactcenter.api.session import user_out
from contactcenter.context import Context
from contactcenter.domain.enums import Role

log = logging.getLogger(__name__)
api = Api()


def invite_mail(sender: EmailSender, to: str, name: str, url: str, hours: int) -> EmailMessage:
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = email.utils.formataddr((sender.settings.from_name.replace("\n", " "), sender.address))
    mail["To"] = to
    mail["Subject"] = "You are invited to the support desk"
    mail["Date"] = email.utils.formatdate(localtime=False)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(f"Hello {name},\n\nyou have been invited to the support desk. Choose your password here "
                     f"(the link works once, for {hours} hours):\n\n{url}\n\nIf you did not expect this, "
                     "ignore this message.\n")
    return mail


async def send_invite(ctx: Context, to: str, name: str, url: str) -> bool:
    """E-mail the link; False when mail is not set up or the relay refuses (the admin still has the link)."""
    sender = ctx.channels.sender("email") if "email" in ctx.channels.channels else None
    if not isinstance(sender, EmailSender) or not sender.address:
        return False
    try:
        error = await sender.deliver(invite_mail(sender, to, name, url, ctx.settings.auth.invite_hours), [to])
    except DeliveryDeferred as exc:
        error = str(exc)
    if error:
        log.warning("the invitation e-mail could not be sent: %s", error[:200])
    return error is None


@api.route("POST", "/invites", summary="Invite a staff member by e-mail (single-use, expiring link)", tag="auth",
           role=Role.ADMIN, body=InviteIn, response=InviteOut, status=201,
           responses={409: "the e-mail belongs to someone who has signed in", 429: "too many invitations"})
async def create_invite(req: ApiRequest) -> web.StreamResponse | InviteOut:
    body: InviteIn = req.body
    limit, key = req.ctx.limits.invites, str(req.user.id)
    if limit.blocked(key):
        return error_response(429, "too_many_requests", "too many invitations; try again later",
                              headers={"Retry-After": str(limit.retry_after(key))})
    hours = req.ctx.settings.auth.invite_hours
    async with req.ctx.db.write() as session:
        user, invite, token = await actions.do_invite_user(session, email=body.email, name=body.name, role=body.role,
                                                           languages=body.languages, hours=hours, actor=req.actor)
    limit.hit(key)
    # The token travels in the fragment: browsers never send it to a server or in a Referer.
    url = f"{req.ctx.settings.base_url}/invite#{token}"
    sent = await send_invite(req.ctx, user.email, user.name, url) if body.send_email else False
    return InviteOut(user=user_out(user), expires_at=invite.expires_at, invite_url=url, email_sent=sent)


@api.route("POST", "/invites/accept", summary="Set the password with an invitation link (works once)", tag="auth",
           role=None, body=InviteAcceptIn, response=UserOut, responses={429: "too many attempts"})
async def accept_invite(req: ApiRequest) -> web.StreamResponse | UserOut:
    body: InviteAcceptIn = req.body
    limit, ip = req.ctx.limits.login_ip, req.request.remote or "?"
    if limit.blocked(ip):
        return error_response(429, "too_many_attempts", "too many attempts; try again later",
                              headers={"Retry-After": str(limit.retry_after(ip))})
    try:
        async with req.ctx.db.write() as session:
            user = await actions.do_accept_invite(session, body.token, body.password)
    except Exception:
        limit.hit(ip)  # guessing links counts like guessing passwords
        raise
    return user_out(user)

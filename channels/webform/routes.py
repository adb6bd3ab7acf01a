"""The web-form channel over HTTP: the contact form, its JSON twin for embedding, and the customer portal.

HTML routes (set up by ``setup_webform``):
    GET  /, /contact                     the contact form
    POST /contact                        submit it (multipart/form-data) -> 303 to the ticket's portal page
    GET  /t/{token}                      the portal: a ticket's public conversation and a reply form
    POST /t/{token}/reply                reply through the portal -> 303 back
    GET  /t/{token}/attachments/{id}     download an attachment of a public message of that ticket

JSON routes (declared on ``channels.webform.api.api``, listed in API_MODULES, described in
/api/v1/openapi.json) are set up by ``setup_api``; this module adds their CORS preflight and headers.
"""

from __future__ import annotations

from aiohttp import web

from channels.webform.cors import cors_headers, cors_preflight
from channels.webform.form import contact_form, submit_contact
from channels.webform.pages import TEMPLATES
from channels.webform.portal import portal_attachment, portal_page, portal_reply
from contactcenter.api.framework import PREFIX
from contactcenter.web import make_environment, setup_static


def setup_webform(app: web.Application) -> None:
    """The contact form, the portal pages, /static/, and CORS preflight for the JSON endpoints.

    The JSON operations themselves are registered by ``setup_api`` from ``channels.webform.api.api``
    (see API_MODULES).
    """
    app[TEMPLATES] = make_environment()
    setup_static(app)
    app.router.add_get("/", contact_form)
    app.router.add_get("/contact", contact_form)
    app.router.add_post("/contact", submit_contact)
    app.router.add_get("/t/{token}", portal_page)
    app.router.add_post("/t/{token}/reply", portal_reply)
    app.router.add_get("/t/{token}/attachments/{id}", portal_attachment)
    for path in ("/webform", "/portal/{token}", "/portal/{token}/messages"):
        app.router.add_route("OPTIONS", PREFIX + path, cors_preflight)
    app.on_response_prepare.append(cors_headers)

"""A user's page: profile, direct and inherited groups, tokens, password; and its forms."""

from pyramid.response import Response

from ...domain import identities as identity_rules
from ...domain import tokens as token_rules
from ...domain import users as rules
from ...domain.errors import DomainError, InvalidValue, NotFound
from ...domain.queries import groups_of
from ...model import User
from ...permissions import MANAGE_IDENTITIES, Permission
from ...scopes import SCOPES
from ...web.schemas import LinkedIdentityCreate, TokenCreate, UserPatch
from ..common import (
    PAGE_SIZE,
    Form,
    check,
    decode_cursor,
    done,
    encode_cursor,
    failed,
    form_values,
    parse_time,
    render,
    ui_path,
    ui_view,
)
from ..session import start_session
from .tree import may_view


@ui_view(User, permission=Permission.VIEW)
def user_page(
    context: User,
    request,
    status: int = 200,
    form: Form | None = None,
    new_token: tuple | None = None,
) -> Response:
    """``GET /users/{id}`` and ``GET /users/{id}/groups``; tokens for ``manage-tokens``."""
    after = decode_cursor(request.GET.get("cursor"))
    rows, more = groups_of(
        request.root, context.id, after=after, limit=PAGE_SIZE, may_view=may_view(request)
    )
    next_url = None
    if more and rows:
        next_url = ui_path(request, context, cursor=encode_cursor(rows[-1].path)) + "#groups"
    may_tokens = request.has_permission(Permission.MANAGE_TOKENS, context)
    me = request.authenticated_userid
    return render(
        request,
        "user.jinja2",
        status=status,
        form=form,
        user=context,
        groups=rows,
        next_url=next_url,
        tokens=sorted(context.tokens.values(), key=lambda t: t.created) if may_tokens else None,
        # GET /users/{id}/identities needs manage-tokens too (the user, the admins)
        identities=context.identities.values() if may_tokens else None,
        may_link=request.has_permission(MANAGE_IDENTITIES, context.identities),
        issuer=request.registry.membership_settings.oidc_issuer,
        new_token=new_token,
        needs_current_password=context.id == me and not request.actor.is_admin,
        # PATCH /users/{id} {"active"}: edit there, and admin or provision (the domain's rule)
        may_activate=bool(request.has_permission(Permission.EDIT, context))
        and (request.actor.is_admin or request.actor.may(Permission.PROVISION, request.root)),
        scopes=SCOPES,
    )


def _again(context, request):
    return lambda **kw: user_page(context, request, **kw)


@ui_view(User, name="edit", method="POST", permission=Permission.EDIT)
def edit_user(context: User, request):
    """``PATCH /users/{id}``: ``display_name``, ``email`` (empty: none)."""
    values = form_values(request, "display_name", "email")
    try:
        check(UserPatch, display_name=values["display_name"], email=values["email"] or None)
        rules.update_user(
            request.domain,
            context,
            display_name=values["display_name"],
            email=values["email"] or None,
        )
    except DomainError as exc:
        return failed(request, exc, Form("edit", values), _again(context, request))
    return done(request, "Saved.", ui_path(request, context), "profile")


@ui_view(User, name="password", method="POST", permission=Permission.EDIT)
def change_password(context: User, request):
    """``PATCH /users/{id}`` with ``password`` (and ``current_password`` for your own)."""
    post = request.POST
    password, again = post.get("password", ""), post.get("password_again", "")
    current = post.get("current_password", "")
    form = Form("password", {}, secret=("password", "password_again", "current_password"))
    try:
        if password != again:
            raise InvalidValue(
                "password_again: does not match the new password", subject="password_again"
            )
        check(UserPatch, password=password, current_password=current or None)
        rules.update_user(
            request.domain, context, password=password, current_password=current or None
        )
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request))
    if context.id == request.authenticated_userid:
        # The password change moved the session generation on: carry this session
        # over to the new one; every other session of the user has ended.
        start_session(request, context)
    return done(request, "Password changed.", ui_path(request, context), "password")


@ui_view(User, name="new-token", method="POST", permission=Permission.MANAGE_TOKENS)
def new_token(context: User, request):
    """``POST /users/{id}/tokens``: the secret is shown once, in this answer only."""
    values = form_values(request, "name", "expires_at")
    scopes = request.POST.getall("scopes") or None  # none ticked: admin, as in the API
    values["scopes"] = scopes or []
    try:
        expires_at = parse_time(values["expires_at"], "expires_at")
        check(TokenCreate, name=values["name"], expires_at=expires_at, scopes=scopes)
        token, secret = token_rules.create_token(
            request.domain, context, name=values["name"], expires_at=expires_at, scopes=scopes
        )
    except DomainError as exc:
        return failed(request, exc, Form("new-token", values), _again(context, request))
    return user_page(context, request, status=201, new_token=(token, secret))


@ui_view(User, name="revoke-token", method="POST", permission=Permission.MANAGE_TOKENS)
def revoke_token(context: User, request):
    """``DELETE /users/{id}/tokens/{token}``."""
    values = form_values(request, "token")
    try:
        if values["token"] not in {t.id for t in context.tokens.values()}:
            raise NotFound("token: no such token", subject="token")
        token_rules.revoke_token(request.domain, context, values["token"])
    except DomainError as exc:
        return failed(request, exc, Form("revoke-token", values), _again(context, request))
    return done(request, "Token revoked.", ui_path(request, context) + "#tokens", "tokens")


@ui_view(User, name="link-identity", method="POST", permission=MANAGE_IDENTITIES)
def link_identity(context: User, request):
    """``POST /users/{id}/identities``: JWTs (and "Log in with …") with this ``(iss, sub)``
    act as this user."""
    values = form_values(request, "issuer", "subject")
    try:
        check(LinkedIdentityCreate, **values)
        identity_rules.link_identity(request.domain, context, values["issuer"], values["subject"])
    except DomainError as exc:
        return failed(request, exc, Form("link-identity", values), _again(context, request))
    return done(
        request, "Identity linked.", ui_path(request, context) + "#identities", "identities"
    )


@ui_view(User, name="unlink-identity", method="POST", permission=MANAGE_IDENTITIES)
def unlink_identity(context: User, request):
    """``DELETE /users/{id}/identities/{n}``."""
    values = form_values(request, "identity")
    try:
        if values["identity"] not in {each.id for each in context.identities.values()}:
            raise NotFound("identity: no such linked identity", subject="identity")
        identity_rules.unlink_identity(request.domain, context, values["identity"])
    except DomainError as exc:
        return failed(request, exc, Form("unlink-identity", values), _again(context, request))
    return done(
        request, "Identity unlinked.", ui_path(request, context) + "#identities", "identities"
    )


@ui_view(User, name="set-active", method="POST", permission=Permission.EDIT)
def set_active(context: User, request):
    """``PATCH /users/{id}`` with ``active``: an inactive user cannot log in (password,
    tokens, JWTs, this UI) and carries no principals, but keeps their memberships."""
    value = request.POST.get("active", "")
    form = Form("active", {"active": value})
    try:
        if value not in ("true", "false"):
            raise InvalidValue("active: true or false", subject="active")
        rules.set_active(request.domain, context, value == "true")
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request))
    message = (
        "Activated."
        if value == "true"
        else "Deactivated: cannot log in any more; memberships are kept."
    )
    return done(request, message, ui_path(request, context), "profile")

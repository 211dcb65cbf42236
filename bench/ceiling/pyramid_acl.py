"""The least a Pyramid traversal app with ACL security does per request.

One resource below the root, found by traversal, with an ``__acl__``; one
view with a permission; a Bearer-token security policy whose identity is a
dict lookup. Membership does the same plus ZODB, a transaction and a real
principal computation, so this is the ceiling for "Pyramid + ACL".
"""

from pyramid.authorization import ACLHelper, Allow, Authenticated, Everyone
from pyramid.config import Configurator
from pyramid.view import view_config

BODY = {"user": "m0000500", "group": "/groups/g", "role": "member"}


class Root:
    __name__ = ""
    __parent__ = None
    __acl__ = ()

    def __init__(self):
        self.child = Member(self)

    def __getitem__(self, name):
        if name == "member":
            return self.child
        raise KeyError(name)


class Member:
    __name__ = "member"
    __acl__ = ((Allow, "user:bench", "view"),)

    def __init__(self, parent):
        self.__parent__ = parent


ROOT = Root()


class TokenSecurityPolicy:
    def __init__(self, tokens):
        self.tokens = tokens
        self.helper = ACLHelper()

    def identity(self, request):
        auth = request.authorization
        if auth is None or auth.authtype != "Bearer":
            return None
        return self.tokens.get(auth.params)

    def authenticated_userid(self, request):
        return self.identity(request)

    def permits(self, request, context, permission):
        userid = self.identity(request)
        principals = [Everyone]
        if userid is not None:
            principals += [Authenticated, f"user:{userid}"]
        return self.helper.permits(context, principals, permission)

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


@view_config(context=Member, permission="view", renderer="json", request_method="GET")
def member(context, request):
    return BODY


def main(global_config, **settings):
    tokens = {settings.get("bench.token", "bench-token"): "bench"}
    with Configurator(settings=settings, root_factory=lambda request: ROOT) as config:
        config.set_security_policy(TokenSecurityPolicy(tokens))
        config.scan(__name__)
    return config.make_wsgi_app()

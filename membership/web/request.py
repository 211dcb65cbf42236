"""The app's Request class: what every request needs, defined once on the class.

Pyramid builds a new Request subclass per request for every property added
with ``add_request_method(..., reify=True)`` (pyramid_tm's ``request.tm`` is
one), which the profile showed at 6-7% of a membership check. Declaring
``tm`` here, and dropping pyramid_tm's per-request extension, keeps one class.
"""

from pyramid.authorization import Everyone
from pyramid.decorator import reify
from pyramid.interfaces import IRequestExtensions
from pyramid.request import Request
from pyramid_tm import create_tm

from ..domain import Actor, Context


class MembershipRequest(Request):
    @reify
    def tm(self):
        return create_tm(self)

    @reify
    def actor(self) -> Actor:
        """The caller as the domain sees them: user id and principals from the policy."""
        identity = self.identity
        if identity is None:
            return Actor("anonymous", (Everyone,))
        return Actor(identity.userid, identity.principals, client=identity.client is not None)

    @reify
    def domain(self) -> Context:
        """What every domain call takes: the tree, the caller, the deployment's rules."""
        registry = self.registry
        return Context(
            self.root,
            self.actor,
            registry.credentials,
            max_depth=registry.membership_settings.max_depth,
        )

    @reify
    def base_url(self) -> str:
        """``application_url``, computed once: every body links several times."""
        return self.application_url


def _drop_tm_extension(registry) -> None:
    extensions = registry.queryUtility(IRequestExtensions)
    if extensions is not None:
        extensions.descriptors.pop("tm", None)


def includeme(config) -> None:
    """Include after pyramid_tm."""
    config.set_request_factory(MembershipRequest)
    config.action(None, _drop_tm_extension, (config.registry,), order=10_000)

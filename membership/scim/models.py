"""The SCIM resources we publish: only the attributes the tree stores.

Built on ``scim2-models`` (schemas, discovery documents, PatchOp, filters),
with a User and a Group of our own: the RFC's full User names some thirty
attributes we do not keep, and publishing them would be a promise we break.
"""

from typing import Annotated, Any, Union

from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Filter,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models.resources.service_provider_config import Pagination


class Name(ComplexAttribute):
    family_name: str | None = None
    given_name: str | None = None


class Email(ComplexAttribute):
    value: str | None = None
    type: str | None = None
    primary: bool | None = None


class User(Resource[Any]):
    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: Name | None = None
    display_name: str | None = None
    active: bool | None = None
    emails: list[Email] | None = None


class Member(ComplexAttribute):
    """A group member: a user (``display`` is not kept, so not published)."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    ref: Annotated[Reference[Union["User", "Group"]] | None, Mutability.immutable] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])


class Group(Resource[Any]):
    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    display_name: Annotated[str | None, Required.true] = None
    members: list[Member] | None = None


#: Entra's and Okta's quirks: string booleans, remove-with-value, attributes we do
#: not keep (``password``, ``groups``, the enterprise extension) accepted and dropped.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def service_provider_config(max_results: int) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri="https://github.com/membership/membership#scim",
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        pagination=Pagination(
            cursor=True,
            index=True,
            default_pagination_method="index",
            default_page_size=DEFAULT_PAGE,
            max_page_size=MAX_PAGE,
        ),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="A personal access token (or an identity provider's JWT) of a "
                "user holding the provision permission on /",
                primary=True,
            )
        ],
    )


def provider(max_results: int) -> ScimProvider:
    return ScimProvider(
        models=[User, Group],
        resource_types=[ResourceType.from_resource(User), ResourceType.from_resource(Group)],
        config=service_provider_config(max_results),
        policy=POLICY,
    )


__all__ = ["POLICY", "Email", "Group", "Member", "Name", "User", "provider"]

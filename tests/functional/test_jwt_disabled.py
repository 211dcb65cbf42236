"""Without ``membership.oidc.issuer`` (the default) JWTs are off."""

from .helpers import bearer


def test_without_an_issuer_a_jwt_is_an_unknown_token(testapp):
    res = testapp.get("/users", headers=bearer("eyJhbGciOiJSUzI1NiJ9.e30.sig"), status=401)
    assert res.headers["WWW-Authenticate"] == 'Basic realm="membership"'
    assert "the credentials given were not accepted" in res.json["detail"]

from setuptools import find_packages, setup

install_requires = [
    "pyramid>=2.0",
    "pyramid_tm",
    "pyramid_retry",
    "pyramid_zodbconn",
    "ZODB>=6",
    "BTrees",
    "transaction",
    "zodburi",
    "waitress",
    "argon2-cffi",
    # scim2-models 0.12 needs pydantic 2.12 or later
    "pydantic>=2.12",
    "plaster_pastedeploy",
    "tqdm",
    # webhook signatures (Standard Webhooks); pure stdlib, 0.x-style API: pinned
    "standardwebhooks==1.1.0",
    # JWT bearer tokens from the operator's identity provider (PyJWKClient's caching
    # and refetch rules move between minor releases): pinned
    "pyjwt[crypto]==2.15.1",
    # the admin UI's templates (membership/ui); htmx is vendored in membership/ui/static
    "pyramid_jinja2>=2.10,<3",
    "Jinja2>=3.1,<4",
    # GET /metrics; multiprocess mode under gunicorn (gunicorn.conf.py): pinned
    "prometheus-client==0.26.0",
    # the failed-login throttle's moving windows, in process or shared through Redis: pinned
    "limits[redis]==5.8.0",
    # SCIM 2.0 resources, PatchOp and the filter grammar (membership/scim); 0.x: pinned
    "scim2-models==0.12.3",
]

#: membership.tracing.enabled: OpenTelemetry (0.x instrumentation, pinned with its SDK).
TRACING = [
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-exporter-otlp-proto-http==1.45.1",
    "opentelemetry-instrumentation-pyramid==0.66b1",
]

extras_require = {
    "test": [
        "pytest",
        "webtest",
        "hypothesis",
        "schemathesis>=4.0",
        "openapi-spec-validator>=0.7",
        "jsonschema>=4.18",
        "openapi-python-client",
        "httpx",
        "nats-py==2.16.0",
        # SCIM judges (tests/scim): in process, and a second tool against a real server
        "scim2-tester==0.5.2",
        "scim2-client==0.13.2",
        "scim-sanity==0.7.4",
        # the admin UI in a real browser: Debian's chromium (.ci/run installs it)
        "playwright>=1.50,<2",
        *TRACING,  # tests/functional/test_tracing.py
    ],
    "dev": [
        "ruff",
        "httpie",
        "pyramid_debugtoolbar",
    ],
    # Each shared storage comes with gunicorn: production.ini runs several
    # worker processes on it (gunicorn --paste production.ini -c gunicorn.conf.py).
    "zeo": ["ZEO", "gunicorn"],
    "relstorage": ["RelStorage[postgresql]", "psycopg2-binary", "gunicorn"],
    # make bench: plots and the profilers. wrk comes from the OS (apt-get install wrk);
    # Kinto, the peer, is installed by the bench into its own virtualenv.
    # membership.changes.nats_url: publish the change feed to NATS JetStream.
    "nats": ["nats-py==2.16.0"],
    "tracing": TRACING,
    "bench": ["matplotlib", "pyinstrument", "py-spy"],
}

setup(
    name="membership",
    version="0.2.0",
    description="Self-hosted group-membership service: Pyramid traversal over a ZODB tree",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(exclude=["tests", "bench"]),
    include_package_data=True,
    package_data={"membership.ui": ["templates/*.jinja2", "static/*"]},
    zip_safe=False,
    install_requires=install_requires,
    extras_require=extras_require,
    entry_points={
        "paste.app_factory": ["main = membership:main"],
        "paste.server_runner": ["waitress = membership.web.server:serve"],
        "console_scripts": [
            "initialize_membership_db = membership.scripts.initialize:main",
            "purge_expired_memberships = membership.scripts.purge:main",
            "import_members = membership.scripts.import_members:main",
            "export_history = membership.scripts.export_history:main",
            "pack_membership_db = membership.scripts.pack:main",
            "membership_fsck = membership.scripts.fsck:main",
            "membership_dispatch = membership.scripts.dispatch:main",
        ],
    },
)

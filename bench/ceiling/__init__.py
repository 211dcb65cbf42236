"""The ceiling: the least a WSGI app on our waitress settings can do per request.

Both apps are PasteDeploy app factories, served by ``pserve`` with the same
``[server:main]`` block as membership.
"""

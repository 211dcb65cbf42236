"""`make bench`: load tests of membership against its ceiling and a peer (Kinto)."""

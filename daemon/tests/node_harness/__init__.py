"""What the daemon's tests stand on: network namespaces, wireguard-go, a scripted HTTP server.

Shared with the server's tests that run a daemon (tests/), so it imports nothing of `phoenix`.
"""

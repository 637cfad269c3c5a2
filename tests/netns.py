"""A private network namespace for WebRTC tests.

aioice (aiortc's ICE) skips loopback addresses, so the app and Chromium must share a real
interface. The namespace gets one end of a veth pair with a private address and no route out:
WebRTC connects inside it and nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time


class NetnsUnavailable(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@contextlib.contextmanager
def private_namespace(prefix: str = "slab"):
    """Yields (namespace name, its address). Raises NetnsUnavailable where namespaces cannot be made."""
    tag = f"{os.getpid() % 100000}"
    ns, host_if, ns_if = f"{prefix}{tag}", f"{prefix}h{tag}", f"{prefix}n{tag}"
    octet = 10 + os.getpid() % 200
    host_addr, ns_addr = f"10.231.{octet}.1", f"10.231.{octet}.2"
    try:
        made = _ip("netns", "add", ns, check=False)
    except FileNotFoundError:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed") from None
    if made.returncode != 0:
        raise NetnsUnavailable(f"`ip netns add` failed: {made.stderr.strip()} (needs root or CAP_SYS_ADMIN)")
    try:
        # No IPv6 inside: its address configuration (DAD) finishes a second or two after the link comes up,
        # and Chromium then aborts page loads with net::ERR_NETWORK_CHANGED.
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], capture_output=True)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{host_if}.disable_ipv6=1"], capture_output=True)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host_addr}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{ns_addr}/24", "dev", ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        time.sleep(1.0)  # let the links settle before anything watches them
        yield ns, ns_addr
    except subprocess.CalledProcessError as e:
        raise NetnsUnavailable(f"setting up the namespace failed: {e.stderr}") from None
    finally:
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", ns, check=False)

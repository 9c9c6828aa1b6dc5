from __future__ import annotations

from ipaddress import ip_network
from unittest import mock

from aiohttp.test_utils import make_mocked_request

from tollgate.gateway.edge import client_ip, request_id
from tollgate.gateway.proxy import response_headers


def request(headers: dict[str, str], peer: str = "10.0.0.9"):  # type: ignore[no-untyped-def]
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 5555) if name == "peername" else default
    )
    return make_mocked_request("GET", "/", headers=headers, transport=transport)


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() -> None:
    assert client_ip(request({"X-Forwarded-For": "6.6.6.6"}), trusted_hops=0) == "10.0.0.9"


def test_with_one_trusted_proxy_its_view_of_the_client_is_taken() -> None:
    spoofed_then_real = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7"}
    assert client_ip(request(spoofed_then_real), trusted_hops=1) == "203.0.113.7"


def test_a_well_formed_request_id_is_kept_and_a_bad_one_replaced() -> None:
    assert request_id(request({"X-Request-ID": "abc-123"})) == "abc-123"
    replaced = request_id(request({"X-Request-ID": "no spaces allowed"}))
    assert replaced != "no spaces allowed" and len(replaced) == 32


def test_a_redirect_to_a_service_s_own_address_leaves_relative_and_others_untouched() -> None:
    internal = frozenset({"http://127.0.0.1:8001"})
    moved = response_headers({"Location": "http://127.0.0.1:8001/api/auth/me?x=1"}, internal)
    assert moved["Location"] == "/api/auth/me?x=1"
    provider = "https://github.com/login/oauth/authorize?state=s"
    assert response_headers({"Location": provider}, internal)["Location"] == provider
    assert response_headers({"Location": "/api/x"}, internal)["Location"] == "/api/x"


WEB_APP = [ip_network("10.0.0.9/32")]


def test_a_trusted_proxy_s_forwarded_address_is_the_client() -> None:
    through_the_web_app = request({"X-Forwarded-For": "198.51.100.4"}, peer="10.0.0.9")
    assert client_ip(through_the_web_app, 0, WEB_APP) == "198.51.100.4"


def test_a_caller_outside_the_trusted_proxies_cannot_choose_its_address() -> None:
    spoofing = request({"X-Forwarded-For": "198.51.100.4"}, peer="192.0.2.50")
    assert client_ip(spoofing, 0, WEB_APP) == "192.0.2.50"


def test_what_a_person_wrote_before_the_web_app_s_entry_is_ignored() -> None:
    forged_then_real = request({"X-Forwarded-For": "6.6.6.6, 198.51.100.4"}, peer="10.0.0.9")
    assert client_ip(forged_then_real, 0, WEB_APP) == "198.51.100.4"


def test_the_web_app_behind_a_counted_proxy_hop_still_yields_the_person() -> None:
    # person -> load balancer (one trusted hop) -> gateway -> web app -> gateway
    chain = request({"X-Forwarded-For": "198.51.100.4, 172.16.0.2"}, peer="10.0.0.9")
    assert client_ip(chain, 1, WEB_APP) == "198.51.100.4"


def test_junk_in_the_header_is_never_taken_for_a_trusted_proxy() -> None:
    junk = request({"X-Forwarded-For": "198.51.100.4, not-an-address"}, peer="10.0.0.9")
    assert client_ip(junk, 0, WEB_APP) == "not-an-address"

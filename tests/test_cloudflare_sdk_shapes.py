"""The fake Cloudflare API is the test oracle, so it must talk like the real one: every answer it
serves validates against the official ``cloudflare`` SDK's models (5.9.0, generated from
Cloudflare's OpenAPI spec), with no field those models do not know, and the SDK's own client
(strict response validation) reads it."""

from __future__ import annotations

import re
import typing
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import cloudflare
import pydantic
import pytest
from cloudflare.types.dns import record_response
from cloudflare.types.dns.dnssec import DNSSEC
from cloudflare.types.hostnames.settings import TLSListResponse
from cloudflare.types.origin_tls_client_auth import SettingGetResponse as AopSetting
from cloudflare.types.rulesets import phase_get_response
from cloudflare.types.rulesets.phase_get_response import PhaseGetResponse
from cloudflare.types.shared import ErrorData
from cloudflare.types.shared.response_info import ResponseInfo
from cloudflare.types.ssl.certificate_pack_list_response import CertificatePackListResponse
from cloudflare.types.ssl.universal.universal_ssl_settings import UniversalSSLSettings
from cloudflare.types.user.token_verify_response import TokenVerifyResponse
from cloudflare.types.zones import Zone, setting_get_response

from intgkit.integrations._net import client_session
from intgkit.integrations.cloudflare import Cloudflare
from intgkit.integrations.cloudflare._client import api_base_url
from intgkit.integrations.cloudflare._read import SETTING_IDS
from intgkit.testing._cloudflare import (
    CLOUDFLARE_MANAGED_RULESET,
    OWASP_CORE_RULESET,
    FakeCertificate,
    FakeCertificatePack,
    FakeCloudflare,
    FakeRecord,
    execute_managed,
    secure_zone_settings,
    universal_pack,
)

TOKEN = "cf-sdk-shape-token"


def _literals(model: type[pydantic.BaseModel], field: str) -> tuple[Any, ...]:
    """The values a Literal (or Optional[Literal]) field of a model allows."""
    annotation = model.model_fields[field].annotation
    out: list[Any] = []
    for arg in typing.get_args(annotation) or (annotation,):
        out += typing.get_args(arg) if typing.get_origin(arg) is typing.Literal else []
    if typing.get_origin(annotation) is typing.Literal:
        out += typing.get_args(annotation)
    return tuple(out)


def _by(union: Any, field: str) -> dict[Any, type[pydantic.BaseModel]]:
    """The members of an SDK union keyed by the literal value of ``field`` (id, type, action)."""
    out: dict[Any, type[pydantic.BaseModel]] = {}
    for member in typing.get_args(union):
        # a response rule re-declares ``action: str``; its request-side base keeps the Literal
        for cls in member.__mro__:
            if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel) and field in cls.model_fields:
                values = _literals(cls, field)
                if values:
                    for value in values:
                        out.setdefault(value, member)
                    break
    return out


SETTING_MODELS = _by(setting_get_response.SettingGetResponse, "id")
RECORD_MODELS = _by(record_response.RecordResponse, "type")
RULE_MODELS = _by(phase_get_response.Rule, "action")


def extras(model: pydantic.BaseModel, where: str = "") -> list[str]:
    """Every field the fake served that the SDK's model (or a nested one) does not know."""
    out = [f"{where}.{k}" for k in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, pydantic.BaseModel):
                out += extras(item, f"{where}.{name}")
    return out


def validate(model: type[pydantic.BaseModel], data: Any, where: str) -> pydantic.BaseModel:
    """``data`` as ``model`` (pydantic raises on a missing or mistyped field), with no unknown field."""
    obj = model.model_validate(data)
    assert extras(obj, where) == [], f"{where}: fields the SDK's {model.__name__} does not have"
    return obj


def rich_zone(cf: FakeCloudflare) -> None:
    """A zone using every feature of the fake: each record type, rule action and TLS override."""
    now = datetime.now(UTC)
    cf.add_zone(
        "example.com",
        records=[
            FakeRecord("A", "www.example.com", "192.0.2.10", proxied=True),
            FakeRecord("AAAA", "v6.example.com", "2001:db8::1"),
            FakeRecord("CNAME", "shop.example.com", "shops.example.net", proxied=True),
            FakeRecord("MX", "example.com", "mail.example.com", priority=5),
            FakeRecord("TXT", "example.com", '"v=spf1 ip4:192.0.2.10 -all"'),
            FakeRecord("NS", "sub.example.com", "ns1.example.net"),
        ],
        rulesets={
            "http_request_firewall_custom": [
                {"action": "block", "expression": "true", "description": "b"},
                {"action": "skip", "expression": "true", "action_parameters": {"ruleset": "current"}},
                {"action": "managed_challenge", "expression": "true"},
                {"action": "log", "expression": "true", "enabled": False},
            ],
            "http_request_firewall_managed": [
                execute_managed(CLOUDFLARE_MANAGED_RULESET, action="log"),
                execute_managed(
                    OWASP_CORE_RULESET,
                    categories=[{"category": "paranoia-level-2", "enabled": False}],
                    rules=[{"id": "6179ae15870a4bb7b2d480d4843b323c", "action": "log"}],
                ),
            ],
            "http_ratelimit": [
                {
                    "action": "block",
                    "expression": "true",
                    "ratelimit": {
                        "characteristics": ["ip.src", "cf.colo.id"],
                        "period": 60,
                        "requests_per_period": 100,
                        "mitigation_timeout": 600,
                    },
                }
            ],
        },
        certificate_packs=[
            universal_pack("example.com"),
            FakeCertificatePack(
                ("example.com", "api.example.com"),
                (FakeCertificate(("api.example.com",), now - timedelta(days=1), "expired"),),
                "advanced",
                "expired",
            ),
        ],
        origin_pulls=False,
        hostname_settings={
            "min_tls_version": {"legacy.example.com": "1.0"},
            "ciphers": {"legacy.example.com": ["AES128-SHA", "ECDHE-RSA-AES128-GCM-SHA256"]},
            "http2": {"legacy.example.com": "off"},
        },
    )


@pytest.fixture
async def cf() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare(token=TOKEN, tls=False) as server:
        rich_zone(server)
        yield server


def template(path: str, zone_id: str) -> str:
    """A request path with the zone id and any setting or phase name kept apart."""
    return path.removeprefix("/client/v4").replace(zone_id, "{zone_id}")


async def test_every_answer_validates_against_the_sdk_models(cf: FakeCloudflare) -> None:
    """Each endpoint's result is the SDK's model (all required fields, no unknown one), in the envelope."""
    zone = cf.zones[0]
    z = f"/zones/{zone.id}"
    # endpoint -> (model of the result or of each item, is a list)
    endpoints: dict[str, tuple[Any, bool]] = {
        "/user/tokens/verify": (TokenVerifyResponse, False),
        "/zones": (Zone, True),
        z: (Zone, False),
        f"{z}/dns_records": (None, True),
        f"{z}/dnssec": (DNSSEC, False),
        f"{z}/ssl/universal/settings": (UniversalSSLSettings, False),
        f"{z}/ssl/certificate_packs?status=all": (CertificatePackListResponse, True),
        f"{z}/origin_tls_client_auth/settings": (AopSetting, False),
    }
    for sid in secure_zone_settings():
        endpoints[f"{z}/settings/{sid}"] = (SETTING_MODELS[sid], False)
    for phase in zone.rulesets:
        endpoints[f"{z}/rulesets/phases/{phase}/entrypoint"] = (PhaseGetResponse, False)
    for sid in ("min_tls_version", "ciphers", "http2"):
        endpoints[f"{z}/hostnames/settings/{sid}"] = (TLSListResponse, True)

    seen_rule_actions: set[str] = set()
    async with client_session() as s:
        for path, (model, is_list) in endpoints.items():
            async with s.get(cf.base_url + path, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200, path
                body = await r.json()
            assert set(body) <= {"success", "errors", "messages", "result", "result_info"}, path
            assert body["success"] is True and body["errors"] == [], path
            for m in body["messages"]:  # the real API adds "type" here, which the SDK lacks
                ResponseInfo.model_validate(m)
            result = body["result"]
            items = result if is_list else [result]
            assert items, f"{path}: the rich zone should give something to validate"
            for i, item in enumerate(items):
                where = f"{path}[{i}]"
                if path.endswith("/dns_records"):
                    validate(RECORD_MODELS[item["type"]], item, where)
                elif model is PhaseGetResponse:
                    validate(model, item, where)
                    for j, rule in enumerate(item["rules"]):
                        validate(RULE_MODELS[rule["action"]], rule, f"{where}.rules[{j}]")
                        seen_rule_actions.add(rule["action"])
                else:
                    validate(model, item, where)
    assert seen_rule_actions == {"block", "skip", "managed_challenge", "log", "execute"}


async def test_every_error_validates_against_the_sdk_models(cf: FakeCloudflare) -> None:
    """Refusals, missing routes, bad queries and rate limits carry the SDK's ErrorData, result null."""
    zone = cf.zones[0]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        ("/zones", {"Authorization": "Bearer wrong"}, 403, 9109),
        ("/zones", {}, 400, 9106),
        (f"/zones/{zone.id}/settings/no_such_setting", auth, 404, 1003),
        (f"/zones/{'0' * 32}", auth, 404, 7003),
        ("/zones?page=x", auth, 400, 1001),
        (f"/zones/{zone.id}/dnssec", auth, 403, 10000),  # DNS Read revoked below
        ("/zones", auth, 429, 971),  # rate limited below
    ]
    async with client_session() as s:
        for path, headers, status, code in cases:
            if code == 10000:
                cf.permissions.discard("DNS Read")
            if code == 971:
                cf.rate_limit(1)
            async with s.get(cf.base_url + path, headers=headers) as r:
                assert r.status == status, path
                body = await r.json()
            assert body["success"] is False and body["result"] is None, path
            errors = [validate(ErrorData, e, f"{path} errors") for e in body["errors"]]
            assert [e.code for e in errors] == [code], path


async def test_models_catch_a_wrong_shape() -> None:
    """The check can fail: the old fake's record (zone_id, no meta) and zone (no meta, owner) are refused."""
    old_record = {
        "id": "a" * 32,
        "zone_id": "b" * 32,
        "zone_name": "example.com",
        "name": "www.example.com",
        "type": "A",
        "content": "192.0.2.1",
        "proxiable": True,
        "proxied": False,
        "ttl": 1,
        "created_on": "2024-01-01T00:00:00Z",
        "modified_on": "2024-01-01T00:00:00Z",
    }
    with pytest.raises(pydantic.ValidationError, match="meta"):
        validate(RECORD_MODELS["A"], old_record, "record")
    old_record["meta"] = {}
    with pytest.raises(AssertionError, match=r"\.zone_id"):
        validate(RECORD_MODELS["A"], old_record, "record")
    with pytest.raises(pydantic.ValidationError) as info:
        Zone.model_validate({"id": "z", "name": "example.com", "account": {}, "plan": {}, "name_servers": []})
    assert {e["loc"][0] for e in info.value.errors()} >= {"meta", "owner", "created_on"}


async def test_the_integration_only_uses_validated_endpoints(cf: FakeCloudflare) -> None:
    """Every endpoint the integration asks for is one whose answer the SDK-shape test validates."""
    zone = cf.zones[0]
    await Cloudflare(token=TOKEN, api_base=cf.base_url).fetch("example.com")
    used = {template(q.path, zone.id) for q in cf.requests}
    validated = {
        "/zones",
        "/zones/{zone_id}/dns_records",
        "/zones/{zone_id}/dnssec",
        "/zones/{zone_id}/ssl/universal/settings",
        "/zones/{zone_id}/ssl/certificate_packs",
        "/zones/{zone_id}/origin_tls_client_auth/settings",
    }
    validated |= {f"/zones/{{zone_id}}/settings/{sid}" for sid in secure_zone_settings()}
    validated |= {f"/zones/{{zone_id}}/rulesets/phases/{p}/entrypoint" for p in zone.rulesets}
    validated |= {
        f"/zones/{{zone_id}}/hostnames/settings/{s}" for s in ("min_tls_version", "ciphers", "http2")
    }
    assert used <= validated, used - validated
    assert {f"/zones/{{zone_id}}/settings/{sid}" for sid in SETTING_IDS} <= used


async def test_the_sdk_client_reads_the_fake_strictly(cf: FakeCloudflare) -> None:
    """cloudflare.AsyncCloudflare with strict response validation reads every endpoint and its errors."""
    zone = cf.zones[0]
    sdk = cloudflare.AsyncCloudflare(
        api_token=TOKEN, base_url=api_base_url(cf.base_url), max_retries=0, _strict_response_validation=True
    )
    async with sdk:
        assert (await sdk.user.tokens.verify()).status == "active"
        zones = [z async for z in sdk.zones.list()]
        assert [(z.name, z.owner.type, z.meta.step) for z in zones] == [("example.com", "user", 2)]
        got = await sdk.zones.get(zone_id=zone.id)
        assert got is not None and got.plan.name == "Free Website"
        for sid in SETTING_IDS:
            setting = await sdk.zones.settings.get(sid, zone_id=zone.id)
            assert setting is not None and setting.id == sid
        records = [r async for r in sdk.dns.records.list(zone_id=zone.id)]
        assert sorted(r.type for r in records) == ["A", "AAAA", "CNAME", "MX", "NS", "TXT"]
        dnssec = await sdk.dns.dnssec.get(zone_id=zone.id)
        assert dnssec is not None and dnssec.status == "active"
        phase = await sdk.rulesets.phases.get("http_request_firewall_managed", zone_id=zone.id)
        assert [r.action for r in phase.rules] == ["execute", "execute"]
        assert [type(r).__name__ for r in phase.rules] == ["RuleExecuteRule", "RuleExecuteRule"]
        universal = await sdk.ssl.universal.settings.get(zone_id=zone.id)
        assert universal is not None and universal.enabled is True
        packs = [p async for p in sdk.ssl.certificate_packs.list(zone_id=zone.id, status="all")]
        assert sorted(p.type for p in packs) == ["advanced", "universal"]
        assert all(c.expires_on is not None for p in packs for c in p.certificates)
        aop = await sdk.origin_tls_client_auth.settings.get(zone_id=zone.id)
        assert aop is not None and aop.enabled is False
        tls = [t async for t in sdk.hostnames.settings.tls.list("min_tls_version", zone_id=zone.id)]
        assert [(t.hostname, t.value) for t in tls] == [("legacy.example.com", "1.0")]

        cf.permissions.discard("DNS Read")
        with pytest.raises(cloudflare.PermissionDeniedError) as denied:
            await sdk.dns.dnssec.get(zone_id=zone.id)
        assert [(e.code, e.message) for e in denied.value.errors] == [(10000, "Authentication error")]
    bad = cloudflare.AsyncCloudflare(
        api_token="wrong", base_url=api_base_url(cf.base_url), max_retries=0, _strict_response_validation=True
    )
    async with bad:
        with pytest.raises(cloudflare.PermissionDeniedError) as refused:
            await bad.zones.get(zone_id=zone.id)
        assert [(e.code, e.message) for e in refused.value.errors] == [(9109, "Invalid access token")]
    assert re.fullmatch(r"[0-9a-f]{32}", zone.id)


def test_no_endpoint_used_is_deprecated() -> None:
    """The SDK methods of the endpoints the integration reads carry no deprecation mark."""
    sdk = cloudflare.Cloudflare(api_token="unused", base_url="http://127.0.0.1:9/client/v4")
    used = [
        sdk.zones.list,
        sdk.zones.settings.get,
        sdk.dns.records.list,
        sdk.dns.dnssec.get,
        sdk.rulesets.phases.get,
        sdk.ssl.universal.settings.get,
        sdk.ssl.certificate_packs.list,
        sdk.origin_tls_client_auth.settings.get,
        sdk.hostnames.settings.tls.list,
    ]
    assert [m.__qualname__ for m in used if hasattr(m, "__deprecated__")] == []
    # the check can fail: the SSL/TLS Recommender is marked deprecated in the same SDK
    assert "decommissioned" in sdk.ssl.recommendations.get.__deprecated__
    sdk.close()

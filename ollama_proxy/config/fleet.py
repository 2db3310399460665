"""Fleet settings: several Ollama nodes behind one proxy, and how requests are routed to them."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode
from yarl import URL

from ollama_proxy.config.fields import env, split_commas
from ollama_proxy.config.proxy import ProxySettings, normalise_upstream
from ollama_proxy.fleet.spec import NodeSpec, parse_node_numbers, parse_rules, split_node


class FleetSettings(ProxySettings):
    """The upstream nodes; one node (OLLAMA_UPSTREAM) is a fleet of one."""

    upstreams: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("OLLAMA_UPSTREAMS", "upstreams"),
        description="Several Ollama nodes, comma-separated `[name=]URL` (`--upstream` "
        "repeated); the name defaults to host:port. Set, it replaces OLLAMA_UPSTREAM. With "
        "more than one node each request goes to the node that holds its model "
        "(docs/fleet.md).",
    )
    route_rules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("ROUTE_RULES", "route_rules"),
        description="Pinning, comma-separated `MODEL_GLOB=NODE|NODE` (first match wins): "
        "matching models run only on those nodes.",
    )
    route_max_attempts: int = Field(
        3,
        ge=1,
        le=16,
        validation_alias=env("ROUTE_MAX_ATTEMPTS", "route_max_attempts"),
        description="Nodes tried for one request when a node refuses, times out connecting "
        "or answers 503 before any response byte.",
    )
    route_eject_failures: int = Field(
        2,
        ge=1,
        validation_alias=env("ROUTE_EJECT_FAILURES", "route_eject_failures"),
        description="Consecutive connect failures or failed probes that eject a node; one "
        "answered probe readmits it.",
    )
    route_node_slots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("ROUTE_NODE_SLOTS", "route_node_slots"),
        description="Parallel requests per loaded model, `NODE=N` comma-separated (Ollama's "
        "OLLAMA_NUM_PARALLEL there); unset nodes are learned from queue waits.",
    )
    route_node_vram_gb: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("ROUTE_NODE_VRAM_GB", "route_node_vram_gb"),
        description="VRAM per node in GiB, `NODE=GB` comma-separated; unset nodes count the "
        "most they were seen holding at once.",
    )
    fleet_ps_interval_s: float = Field(
        2.0,
        gt=0,
        validation_alias=env("FLEET_PS_INTERVAL_S", "fleet_ps_interval_s"),
        description="Seconds between /api/ps probes of each node (also its health check).",
    )
    fleet_tags_interval_s: float = Field(
        30.0,
        gt=0,
        validation_alias=env("FLEET_TAGS_INTERVAL_S", "fleet_tags_interval_s"),
        description="Seconds between /api/tags and /api/version polls of each node.",
    )

    @field_validator(
        "upstreams", "route_rules", "route_node_slots", "route_node_vram_gb", mode="before"
    )
    @classmethod
    def _split_fleet_lists(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("upstreams")
    @classmethod
    def _check_upstreams(cls, entries: list[str]) -> list[str]:
        out, names = [], set()
        for entry in entries:
            name, url = split_node(entry)
            url = normalise_upstream(url)
            name = name or URL(url).raw_authority
            if name in names:
                raise ValueError(f"node name {name!r} given twice")
            names.add(name)
            out.append(f"{name}={url}")
        return out

    @field_validator("route_rules")
    @classmethod
    def _check_rules(cls, entries: list[str]) -> list[str]:
        parse_rules(entries)
        return entries

    @model_validator(mode="after")
    def _check_fleet(self) -> Self:
        if self.upstreams:  # the first node is the upstream of everything that needs one
            object.__setattr__(self, "upstream", split_node(self.upstreams[0])[1])
        names = {spec.name for spec in self.nodes}
        named = [n for rule in parse_rules(self.route_rules) for n in rule.nodes]
        named += list(parse_node_numbers(self.route_node_slots, "ROUTE_NODE_SLOTS"))
        named += list(parse_node_numbers(self.route_node_vram_gb, "ROUTE_NODE_VRAM_GB"))
        unknown = sorted(set(named) - names)
        if unknown:
            raise ValueError(f"unknown node(s) {unknown}; nodes are {sorted(names)}")
        return self

    @property
    def nodes(self) -> list[NodeSpec]:
        """The Ollama nodes: OLLAMA_UPSTREAMS, else the one OLLAMA_UPSTREAM."""
        if not self.upstreams:
            return [NodeSpec(self.upstream_url.raw_authority, self.upstream)]
        return [NodeSpec(*split_node(entry)) for entry in self.upstreams]

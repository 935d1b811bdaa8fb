"""The ``topology:`` section of a scenario, as strict msgspec Structs.

Two forms (``docs/protocols/hierarchy.md`` shows both in YAML):

- **explicit**: ``regions`` is a list of :class:`RegionSpec` (each with its ``parent``, its
  ``sites`` by name and/or ``match`` patterns), and ``site_regions`` may place further sites
  by name (``site: region``; the region may be the root, for a site the portfolio
  aggregator calls directly);
- **generated**: ``regions`` is a number and ``assign`` names the rule that places the
  fleet's sites (in the fleet's order) into that many regions under the root:

  - ``blocks`` (the default): contiguous blocks, sizes differing by at most one (the first
    ``len(sites) % regions`` blocks take one more); regions ``region-01`` ... ``region-N``
    (zero-padded to the width of N);
  - ``round-robin``: site ``i`` goes to region ``i % regions``; names as for ``blocks``;
  - ``prefix``: a site's region is its name without its last ``separator``-delimited field
    (``north-house-17`` -> ``north-house``; so the sites a scenario's ``count`` expands
    from one spec share a region); ``regions`` must equal the number of regions this
    gives (a check against a typo in a name).

The structs only describe; :func:`~vpp.coordination.hierarchy.topology.build_topology`
validates against the fleet and builds the tree.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

_Strict = dict(forbid_unknown_fields=True, kw_only=True)

MAX_PATTERN_CHARS = 200
"""The longest ``match`` pattern accepted (patterns are shell-style, ``fnmatch``)."""


class RegionSpec(msgspec.Struct, **_Strict):
    """One regional aggregator of an explicit topology.

    Attributes:
        name: the region's name (distinct from every site's and from the root's).
        parent: the region above it; None (the default) or the root's name for a region
            directly under the portfolio aggregator.
        sites: sites placed in this region by name.
        match: shell-style patterns (``north-*``, ``feeder-?-*``) placing every fleet
            site whose name matches; each must match at least one site.
    """

    name: str
    parent: str | None = None
    sites: list[str] = []
    match: list[Annotated[str, msgspec.Meta(min_length=1,
                                            max_length=MAX_PATTERN_CHARS)]] = []


class TopologySpec(msgspec.Struct, **_Strict):
    """A fleet's hierarchy: explicit regions, or a number of regions and a rule.

    Attributes:
        root: the portfolio aggregator's name (the tree's root).
        regions: a list of :class:`RegionSpec` (explicit), or how many regions to generate.
        assign: the rule for a generated topology (``blocks``, ``round-robin``, ``prefix``);
            only with ``regions: N`` (default ``blocks``).
        separator: the ``prefix`` rule's separator.
        site_regions: explicit only: ``site: region`` placements (the region may be the
            root's name).
    """

    root: str = "portfolio"
    regions: Annotated[int, msgspec.Meta(ge=1)] | list[RegionSpec]
    assign: Literal["blocks", "round-robin", "prefix"] | None = None
    separator: Annotated[str, msgspec.Meta(min_length=1, max_length=8)] = "-"
    site_regions: dict[str, str] = {}
